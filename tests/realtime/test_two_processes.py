"""Live events cross web processes: written through one `invekto serve`, delivered by another."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from invekto.http.deps import SESSION_COOKIE
from invekto.inbox import service as inbox
from tests.processes import invekto_processes

REJECTED = r"HTTP 403"


@pytest.fixture(scope="module")
def two_servers(database_url):
    with invekto_processes(database_url, servers=2) as addresses:
        yield addresses


def _cookie(person) -> str:
    return f"{SESSION_COOKIE}={person.client.cookies[SESSION_COOKIE]}"


async def _socket(address: str, person):
    websocket = await connect(f"ws://{address}/ws", additional_headers={"Cookie": _cookie(person)})
    hello = json.loads(await asyncio.wait_for(websocket.recv(), 5))
    assert hello == {"type": "hello", "data": {"user_id": str(person.user_id)}}
    return websocket


async def _next_event(websocket) -> dict:
    return json.loads(await asyncio.wait_for(websocket.recv(), 10))


async def _drain(websocket) -> None:
    while True:
        try:
            await asyncio.wait_for(websocket.recv(), 0.3)
        except TimeoutError:
            return


async def test_an_event_written_through_one_process_reaches_clients_of_another(world,
                                                                               two_servers):
    server_a, server_b = two_servers
    home = world.home
    first = await home.inbound("Merhaba, randevu?")
    conversation_id = first.conversation_id
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        await inbox.transfer(session, home.system, conversation_id, user_id=None,
                             group_id=home.group_id)

    sockets = {name: await _socket(server_b, person) for name, person in
               [("sevgi", home.sevgi), ("bora", home.bora), ("deniz", home.deniz),
                ("charlie", world.charlie.ayla)]}
    try:
        for websocket in sockets.values():
            await _drain(websocket)

        async with httpx.AsyncClient(base_url=f"http://{server_a}") as http:
            response = await http.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"body": "Perşembe 14:00 uygun mu?"},
                headers={"Cookie": _cookie(home.sevgi), "x-csrf-token": home.sevgi.csrf})
        assert response.status_code == 201, response.text
        message_id = response.json()["id"]

        expected = {"type": "message.created", "data": {
            "conversation_id": str(conversation_id), "contact_id": str(first.contact_id),
            "message_id": message_id, "direction": "outbound", "assignee_id": None}}
        assert await _next_event(sockets["sevgi"]) == expected  # supervisor: whole tenant
        assert await _next_event(sockets["bora"]) == expected   # agent in the group

        # A marker every agent of the home company may see (the shared queue), and one for
        # Charlie: if the reply had leaked to Deniz or Charlie it would arrive before these.
        marker = await home.inbound("Herkese açık kuyruk")
        charlie_marker = await world.charlie.inbound("Charlie")
        deniz_event = await _next_event(sockets["deniz"])
        charlie_event = await _next_event(sockets["charlie"])
        assert deniz_event["data"]["conversation_id"] == str(marker.conversation_id)
        assert charlie_event["data"]["conversation_id"] == str(charlie_marker.conversation_id)
    finally:
        for websocket in sockets.values():
            await websocket.close()


async def test_sockets_need_a_valid_session_and_the_same_origin(world, two_servers):
    address = two_servers[1]
    with pytest.raises(Exception, match=REJECTED):
        async with connect(f"ws://{address}/ws") as websocket:
            await asyncio.wait_for(websocket.recv(), 5)
    with pytest.raises(Exception, match=REJECTED):
        async with connect(f"ws://{address}/ws",
                           additional_headers={"Cookie": f"{SESSION_COOKIE}=garbage"}) as ws:
            await asyncio.wait_for(ws.recv(), 5)
    with pytest.raises(Exception, match=REJECTED):
        async with connect(f"ws://{address}/ws", origin="http://evil.example",
                           additional_headers={"Cookie": _cookie(world.home.sevgi)}) as ws:
            await asyncio.wait_for(ws.recv(), 5)


async def test_a_session_ended_elsewhere_stops_an_open_socket_at_its_next_ping(world,
                                                                                two_servers):
    home = world.home
    tab = await home.login("deniz")
    person = type(home.deniz)(home.deniz.user_id, "deniz", "agent", tab)
    websocket = await _socket(two_servers[0], person)
    await websocket.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(websocket.recv(), 5))["type"] == "pong"

    # Deniz ends every other session from the account page of another device.
    response = await home.deniz.client.post("/api/v1/me/sessions/end-others")
    assert response.status_code in (200, 204), response.text
    await websocket.send(json.dumps({"type": "ping"}))
    with pytest.raises(Exception, match="1008"):
        while True:  # events already queued may come first; then the close
            await asyncio.wait_for(websocket.recv(), 5)
    await tab.aclose()
