"""Each action's effect in the database, done by the real services as the system: messages and
templates sent, assignment, tags, contact fields, close, snooze, pending, notes, flows,
follow-ups, notifications, and the signed webhook against a local stub server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import attr
import pytest
from procrastinate import JobContext
from procrastinate.jobs import Job
from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invekto.automation import tasks
from invekto.contacts.models import Contact
from invekto.core.jobs import job_app
from invekto.flows.models import Flow, FlowSession, FlowVersion
from invekto.follow_ups.models import FollowUpRun
from invekto.inbox.models import Message, Note, Notification
from tests.automation.conftest import (
    conversation,
    make_field,
    make_rule,
    make_tags,
    runs,
    sent,
    thread_events,
)
from tests.processes import serving
from tests.routing.team import online, route
from tests.scheduled.conftest import whatsapp  # noqa: F401  (a fixture)

TRIGGER = "tetik"


async def _fire(home, actions: list[dict], *, body: str = "Merhaba", name: str = "Ayşe Yılmaz"
                ) -> tuple[Message, list]:
    """A rule on the trigger tag with these actions; a customer writes and an agent tags the
    conversation. Returns the customer's message and the rule's runs (webhook jobs update
    theirs later: read them again)."""
    await _trigger_tag(home)
    rule = await make_rule(home, event="tag_added", event_options={"tag": TRIGGER},
                           actions=actions)
    message = await home.inbound(body, name=name)
    response = await home.sevgi.client.post(
        f"/api/v1/conversations/{message.conversation_id}/tags",
        json={"add": [TRIGGER], "remove": []})
    assert response.status_code == 200, response.text
    found = await runs(home, rule["id"])
    # Switched off, so that the next step of a test fires only its own rule.
    await home.sevgi.client.put(f"/api/v1/automation/rules/{rule['id']}/enabled",
                                json={"enabled": False})
    return message, found


async def _trigger_tag(home) -> None:
    response = await home.sevgi.client.post("/api/v1/tags", json={"name": TRIGGER})
    assert response.status_code in (201, 409), response.text  # made by an earlier step


def _statuses(found) -> list[tuple[str, str]]:
    return [(r["type"], r["status"]) for run in found for r in run.results]


async def test_send_message_fills_the_variables(world):
    home = world.home
    message, found = await _fire(home, [{"type": "send_message", "body":
                                         "Merhaba {{ contact.first_name }}, {{ company.name }} "
                                         "size yardımcı olacak."}])
    assert _statuses(found) == [("send_message", "done")]
    assert await sent(home, message.conversation_id) == [
        "Merhaba Ayşe, Test Kliniği size yardımcı olacak."]
    # The thread says which rule did it.
    (event,) = await thread_events(home, message.conversation_id)
    assert event["actions"] == [{"type": "send_message", "summary":
                                 "Merhaba {{ contact.first_name }}, {{ company.name }} size "
                                 "yardımcı olacak."}]


async def test_send_template_sends_the_approved_template_on_whatsapp(world, whatsapp):  # noqa: F811
    home = world.home
    rule = await make_rule(home, event="message_received", actions=[{
        "type": "send_template", "template_name": "randevu_hatirlatma", "language": "tr",
        "parameters": {"1": "{{ contact.first_name }} Hanım", "2": "28 Kasım"}}])
    message = await home.inbound("Merhaba", handle="905321234599", phone="905321234599",
                                 name="Ayşe Yılmaz", channel_id=whatsapp)
    (run,) = await runs(home, rule["id"])
    assert (run.status, run.error) == ("done", "")
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        template = await session.scalar(select(Message).where(
            Message.conversation_id == message.conversation_id,
            Message.direction == "outbound"))
    assert template.content_kind == "template"
    assert "Ayşe Hanım" in template.body and "28 Kasım" in template.body


async def test_assign_to_a_user_or_a_groups_queue(world):
    home = world.home
    message, found = await _fire(home, [{"type": "assign", "user_id": str(home.deniz.user_id)}])
    assert _statuses(found) == [("assign", "done")]
    assert (await conversation(home, message.conversation_id)).assignee_id == home.deniz.user_id
    message, found = await _fire(home, [{"type": "assign", "group_id": str(home.group_id)}])
    queued = await conversation(home, message.conversation_id)
    assert (queued.group_id, queued.assignee_id) == (home.group_id, None)


async def test_assign_by_routing_gives_the_conversation_to_an_available_agent(world):
    home = world.home
    message = await home.inbound("Merhaba")  # before routing is set: nobody has it
    await route(home)
    await online(home, "bora")
    await _trigger_tag(home)
    rule = await make_rule(home, event="tag_added", actions=[{"type": "assign",
                                                              "routing": True}])
    await home.sevgi.client.post(f"/api/v1/conversations/{message.conversation_id}/tags",
                                 json={"add": [TRIGGER], "remove": []})
    assert (await conversation(home, message.conversation_id)).assignee_id == home.bora.user_id
    assert _statuses(await runs(home, rule["id"])) == [("assign", "done")]


async def test_add_and_remove_tags(world):
    home = world.home
    await make_tags(home, "fiyat", "eski")
    message, found = await _fire(home, [{"type": "add_tags", "tags": ["fiyat", "eski"]},
                                        {"type": "remove_tags", "tags": ["eski", TRIGGER]}])
    assert _statuses(found) == [("add_tags", "done"), ("remove_tags", "done")]
    assert (await conversation(home, message.conversation_id)).tags == ["fiyat"]


async def test_set_field_writes_the_contacts_custom_field(world):
    home = world.home
    await make_field(home, "kaynak")
    message, found = await _fire(home, [
        {"type": "set_field", "key": "kaynak", "value": "web - {{ contact.first_name }}"}])
    assert _statuses(found) == [("set_field", "done")]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        contact = await session.get_one(Contact, message.contact_id)
    assert contact.custom_fields == {"kaynak": "web - Ayşe"}


async def test_close_snooze_and_set_pending(world):
    home = world.home
    message, found = await _fire(home, [{"type": "close"}])
    assert _statuses(found) == [("close", "done")]
    assert (await conversation(home, message.conversation_id)).status == "closed"
    message, _ = await _fire(home, [{"type": "snooze", "minutes": 90}])
    snoozed = await conversation(home, message.conversation_id)
    assert snoozed.status == "pending" and snoozed.snoozed_until is not None
    message, found = await _fire(home, [{"type": "set_pending"}, {"type": "set_pending"}])
    assert (await conversation(home, message.conversation_id)).status == "pending"
    assert _statuses(found) == [("set_pending", "done"), ("set_pending", "skipped")]


async def test_add_note_and_notify_a_colleague(world):
    home = world.home
    message, found = await _fire(home, [
        {"type": "add_note", "body": "VIP müşteri: {{ contact.name }}"},
        {"type": "notify", "user_id": str(home.bora.user_id),
         "body": "{{ contact.first_name }} fiyat sordu"}])
    assert _statuses(found) == [("add_note", "done"), ("notify", "done")]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        notes = (await session.scalars(select(Note.body).where(
            Note.conversation_id == message.conversation_id).order_by(Note.created_at))).all()
        notification = await session.scalar(select(Notification).where(
            Notification.user_id == home.bora.user_id))
    assert notes == ["VIP müşteri: Ayşe Yılmaz", "Ayşe fiyat sordu"]
    assert (notification.kind, notification.conversation_id, notification.read_at) == (
        "automation", message.conversation_id, None)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert (await session.get_one(Note, notification.note_id)).body == "Ayşe fiyat sordu"


async def test_start_follow_up_starts_the_sequence_once(world):
    home = world.home
    response = await home.sevgi.client.post("/api/v1/follow-ups", json={
        "name": "Teklif takibi", "trigger": "conversation_closed",
        "steps": [{"delay_minutes": 60, "body": "Teklifimizi incelediniz mi?"}]})
    assert response.status_code == 201, response.text
    sequence_id = response.json()["id"]
    message, found = await _fire(home, [{"type": "start_follow_up",
                                         "sequence_id": sequence_id}])
    assert _statuses(found) == [("start_follow_up", "done")]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        started = (await session.scalars(select(FollowUpRun).where(
            FollowUpRun.conversation_id == message.conversation_id))).all()
    assert [(str(r.sequence_id), r.state) for r in started] == [(sequence_id, "running")]


async def _question_flow(home) -> Flow:
    """A published flow that asks one question and waits for the answer."""
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow = Flow(tenant_id=home.tenant_id, name=f"Karşılama {uuid.uuid4().hex[:4]}")
        session.add(flow)
        await session.flush()
        version = FlowVersion(tenant_id=home.tenant_id, flow_id=flow.id, number=1, graph={
            "start": "n1", "nodes": {"n1": {"type": "question", "text": "Nasıl yardımcı olalım?",
                                            "style": "buttons", "options": [
                                                {"id": "o1", "title": "Fiyat", "next": "n2"}]},
                                     "n2": {"type": "end", "text": "Teşekkürler"}}},
            triggers={})
        session.add(version)
        await session.flush()
        flow.published_version_id = version.id
    return flow


async def test_start_flow_hands_the_conversation_to_the_flow(world):
    home = world.home
    flow = await _question_flow(home)
    message, found = await _fire(home, [{"type": "start_flow", "flow_id": str(flow.id)}])
    assert _statuses(found) == [("start_flow", "done")], found[0].error
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow_session = await session.scalar(select(FlowSession).where(
            FlowSession.conversation_id == message.conversation_id))
    assert (flow_session.flow_id, flow_session.started_by) == (flow.id, "rule")
    assert (await conversation(home, message.conversation_id)).held_by_bot


async def test_assigning_a_conversation_a_bot_holds_ends_the_bot(world):
    home = world.home
    flow = await _question_flow(home)
    await make_rule(home, event="message_received", conditions={"all": [
        {"field": "message.text", "op": "contains_any", "value": ["başla"]}]},
        actions=[{"type": "start_flow", "flow_id": str(flow.id)}])
    await make_rule(home, event="message_received", conditions={"all": [
        {"field": "message.text", "op": "contains_any", "value": ["acele"]}]},
        actions=[{"type": "assign", "user_id": str(home.bora.user_id)}])
    first = await home.inbound("Başla", handle="acele-eden")
    assert (await conversation(home, first.conversation_id)).held_by_bot
    await home.inbound("Acelem var, biri baksın", handle="acele-eden")
    after = await conversation(home, first.conversation_id)
    assert (after.held_by_bot, after.assignee_id) == (False, home.bora.user_id)
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        flow_session = await session.scalar(select(FlowSession).where(
            FlowSession.conversation_id == first.conversation_id))
    assert (flow_session.state, flow_session.end_reason) == ("ended", "taken_over")


async def test_a_failing_action_rolls_back_the_rules_actions_and_keeps_the_cause(world):
    home = world.home
    await make_tags(home, "fiyat", "ikinci")
    failing = await make_rule(home, event="message_received", actions=[
        {"type": "add_tags", "tags": ["fiyat"]},
        # Templates go only to WhatsApp: on the web chat this fails.
        {"type": "send_template", "template_name": "hosgeldin", "language": "tr"},
        {"type": "close"}])
    fine = await make_rule(home, event="message_received",
                           actions=[{"type": "add_tags", "tags": ["ikinci"]}])
    message = await home.inbound("Fiyat nedir?")
    (run,) = await runs(home, failing["id"])
    assert run.status == "failed"
    assert run.error == "templates can only be sent on WhatsApp"
    assert [(r["type"], r["status"]) for r in run.results] == [
        ("add_tags", "rolled_back"), ("send_template", "failed"), ("close", "not_run")]
    assert [r.status for r in await runs(home, fine["id"])] == ["done"]
    after = await conversation(home, message.conversation_id)
    assert (after.tags, after.status) == (["ikinci"], "open")
    assert [e["rule"] for e in await thread_events(home, message.conversation_id)] == [
        fine["name"]]
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        assert await session.get(Message, message.id) is not None  # the customer's message


# ---- webhooks -------------------------------------------------------------------------------

class WebhookStub:
    """The customer's server: records what it gets, answers with the next status given."""

    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.received: list[tuple[dict, bytes]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request):
        self.received.append((dict(request.headers), await request.body()))
        return JSONResponse({}, status_code=self.statuses.pop(0) if self.statuses else 200)


async def _webhook_jobs(home, run_id) -> list[dict]:
    async with home.rt.db.transaction() as session:
        return [row[0] for row in await session.execute(text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'automation:call_webhook' "
            "AND args->>'run_id' = :run"), {"run": str(run_id)})]


async def _deliver(home, args: dict, *, final: bool) -> str:
    return await tasks.deliver_webhook(
        tenant_id=uuid.UUID(args["tenant_id"]), run_id=uuid.UUID(args["run_id"]),
        index=args["index"], url=args["url"], body=args["body"],
        sealed_secret=args["sealed_secret"], final=final)


async def test_call_webhook_posts_signed_json_after_the_transaction(world):
    home = world.home
    stub = WebhookStub([200])
    async with serving(stub.app) as base_url:
        message, (run,) = await _fire(home, [
            {"type": "call_webhook", "url": f"{base_url}/hook", "secret": "s3cr3t"}])
        assert [(r["type"], r["status"]) for r in run.results] == [("call_webhook", "queued")]
        assert stub.received == []  # not from inside the transaction
        (args,) = await _webhook_jobs(home, run.id)
        assert "s3cr3t" not in json.dumps(args)  # the job carries the secret sealed
        assert await _deliver(home, args, final=False) == "done"
    ((headers, body),) = stub.received
    timestamp, signature = (part.split("=", 1)[1]
                            for part in headers["x-invekto-signature"].split(","))
    expected = hmac.new(b"s3cr3t", f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    sent_json = json.loads(body)
    assert sent_json["event"]["kind"] == "tag_added"
    assert sent_json["event"]["data"] == {"tag": TRIGGER}
    assert sent_json["conversation"]["id"] == str(message.conversation_id)
    assert sent_json["contact"]["name"] == "Ayşe Yılmaz"
    assert sent_json["rule"]["id"] == str(run.rule_id)
    (done,) = await runs(home, run.rule_id)
    assert (done.status, done.results) == ("done", [
        {"type": "call_webhook", "status": "done", "detail": "HTTP 200"}])


async def test_a_webhook_that_fails_is_retried_then_fails_the_run(world):
    home = world.home
    stub = WebhookStub([503, 500, 400])
    async with serving(stub.app) as base_url:
        _, (run,) = await _fire(home, [{"type": "call_webhook", "url": f"{base_url}/hook"}])
        (args,) = await _webhook_jobs(home, run.id)
        assert await _deliver(home, args, final=False) == "retry"
        (retrying,) = await runs(home, run.rule_id)
        assert retrying.status == "done"
        assert retrying.results[0]["status"] == "queued"
        assert "HTTP 503" in retrying.results[0]["detail"]
        assert await _deliver(home, args, final=True) == "failed"  # the last attempt
        (failed,) = await runs(home, run.rule_id)
        assert (failed.status, failed.results[0]["status"], failed.error) == (
            "failed", "failed", "HTTP 500")
        # Refused outright (4xx): no retry.
        assert await _deliver(home, args, final=False) == "failed"
    # Unsigned without a secret.
    assert all("x-invekto-signature" not in headers for headers, _ in stub.received)


async def test_the_webhook_job_raises_for_procrastinates_retry_until_its_last_attempt(world):
    home = world.home
    stub = WebhookStub([502, 502])
    async with serving(stub.app) as base_url:
        _, (run,) = await _fire(home, [{"type": "call_webhook", "url": f"{base_url}/hook"}])
        async with home.rt.db.transaction() as session:
            row = (await session.execute(text(
                "SELECT * FROM procrastinate_jobs WHERE task_name = 'automation:call_webhook' "
                "AND args->>'run_id' = :run"), {"run": str(run.id)})).mappings().one()
        job = Job.from_row(dict(row))

        def context(attempts: int) -> JobContext:
            return JobContext(app=job_app, job=attr.evolve(job, attempts=attempts),
                              start_timestamp=time.time(), abort_reason=lambda: None)

        with pytest.raises(tasks.WebhookUnavailable) as raised:
            await tasks.call_webhook.func(context(0), **job.task_kwargs)
        assert tasks.call_webhook.get_retry_exception(raised.value, job) is not None
        last = attr.evolve(job, attempts=tasks.WEBHOOK_RETRIES)
        assert tasks.call_webhook.get_retry_exception(raised.value, last) is None
        # The last attempt does not raise: it records the failure.
        assert await tasks.call_webhook.func(context(tasks.WEBHOOK_RETRIES),
                                             **job.task_kwargs) == "failed"
    (failed,) = await runs(home, run.rule_id)
    assert (failed.status, failed.error) == ("failed", "HTTP 502")
