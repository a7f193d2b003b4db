async def test_supervisor_lists_conversations(world):
    await world.home.inbound("Merhaba, randevu almak istiyorum")
    response = await world.home.sevgi.client.get("/api/v1/conversations")
    assert response.status_code == 200
    assert [c["last_message_preview"] for c in response.json()["items"]] == [
        "Merhaba, randevu almak istiyorum"]
