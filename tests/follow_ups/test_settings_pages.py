"""The follow-ups and satisfaction-survey sections of the settings, over HTTP as the page sends
them: supervisors make a sequence with its steps and set a channel's survey; agents cannot."""

from __future__ import annotations

from invekto.follow_ups import service as follow_ups
from tests.web.test_settings_pages import error_of, page, post


async def test_a_supervisor_makes_a_sequence_with_its_steps_from_the_page(world):
    home = world.home
    html = await page(home.sevgi, "/settings/follow-ups")
    assert 'id="follow-up-create"' in html and 'data-section="follow-ups"' in html
    response = await post(home.sevgi, "/settings/follow-ups", {
        "name": "Kapanış sonrası", "trigger": "conversation_closed", "channel_id": "",
        "trigger_tag": "", "stop_tag": "", "enabled": "on",
        "step_delay": ["60", "1440", ""], "step_body": ["Memnun kaldınız mı?", "İndirim: X", ""],
        "step_template": ["", "", ""], "step_language": ["", "", ""]})
    assert "data-saved" in response.text and "Memnun kaldınız mı?" in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        (saved,) = await follow_ups.list_sequences(session, home.system)
        assert [(s.delay_minutes, s.body) for s in saved.steps] == [
            (60, "Memnun kaldınız mı?"), (1440, "İndirim: X")]
    # Switched off from its row (the box sent as its absence), then deleted.
    await post(home.sevgi, f"/settings/follow-ups/{saved.id}", {
        "name": "Kapanış sonrası", "trigger": "conversation_closed",
        "step_delay": ["30"], "step_body": ["Tek adım"], "step_template": [""],
        "step_language": [""]})
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        changed = await follow_ups.get_sequence(session, home.system, saved.id)
        assert not changed.enabled and [s.body for s in changed.steps] == ["Tek adım"]
    refused = await post(home.sevgi, "/settings/follow-ups", {
        "name": "Boş", "trigger": "tag_added", "step_delay": ["0"], "step_body": ["Merhaba"]},
        expect=422)
    assert error_of(refused)["field"] == "trigger_tag"
    await post(home.bora, "/settings/follow-ups", {
        "name": "Ajan", "trigger": "conversation_closed", "step_delay": ["0"],
        "step_body": ["Merhaba"]}, expect=403)
    await page(home.bora, "/settings/follow-ups", expect=403)
    response = await post(home.sevgi, f"/settings/follow-ups/{saved.id}/delete")
    assert "Kapanış sonrası" not in response.text


async def test_a_supervisor_sets_a_channels_survey_from_the_page(world):
    home = world.home
    html = await page(home.sevgi, "/settings/csat")
    assert f'id="csat-{home.channel_id}"' in html
    response = await post(home.sevgi, f"/settings/csat/{home.channel_id}", {
        "enabled": "on", "delay_minutes": "15", "thank_you_text": "Teşekkürler!",
        "question_text": "Bizi 1-5 arası puanlar mısınız?"})
    assert "data-saved" in response.text
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        survey = await follow_ups.get_survey(session, home.system, home.channel_id)
    assert (survey.enabled, survey.delay_minutes, survey.question_text) == (
        True, 15, "Bizi 1-5 arası puanlar mısınız?")
    refused = await post(home.sevgi, f"/settings/csat/{home.channel_id}", {
        "enabled": "on", "question_text": " "}, expect=422)
    assert error_of(refused)["field"] == "question_text"
    await post(home.bora, f"/settings/csat/{home.channel_id}", {"enabled": "on"}, expect=403)
