"""Netgsm SMS: the REST v2 adapter against its simulator (the reference samples, the exact send
body, every result code, Turkish encoding and parts, connection, explanations), then end to end
below the browser: the poller asks the simulator for inbound SMS and delivery reports and
stores them through the webhook intake, the ingest job makes contacts, conversations and
messages, replies go out through the adapter and reports move them on."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from invekto.channels import adapters, intake, netgsm_polling
from invekto.channels import service as channels
from invekto.channels import tasks as channel_tasks
from invekto.channels.adapters import adapter_for
from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    InboundEvent,
    OutboundFile,
    OutboundMessage,
    PermanentFailure,
    Sent,
    StatusEvent,
    TemporaryFailure,
)
from invekto.channels.adapters.netgsm import (
    FAILED_STATUSES,
    TURKEY,
    NetgsmAdapter,
    PollFailed,
    build_body,
    delivery_body,
    explain,
    inbound_id,
    inbox_delivery,
    parse_webhook,
    report_delivery,
)
from invekto.channels.models import Channel, WebhookEvent
from invekto.channels.schemas import ChannelCreate
from invekto.channels.simulator.netgsm import (
    CUSTOMER,
    MSGHEADER,
    NUMBER,
    PASSWORD,
    USERCODE,
    NetgsmSimulator,
    create_simulator,
)
from invekto.channels.sms import sms_length
from invekto.contacts.models import Contact, ContactIdentity, SmsOptOut
from invekto.inbox.models import Message
from invekto.inbox.tasks import ProviderUnavailable
from tests.channels.harness import ChannelWorld

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
SIM = "http://netgsm.simulator"
NOW = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
BASIC = "Basic " + base64.b64encode(f"{USERCODE}:{PASSWORD}".encode()).decode()
PHONE = "+905321234567"  # CUSTOMER in E.164


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def account(usercode: str | None = USERCODE, password: str | None = PASSWORD,
            external_id: str | None = NUMBER, **settings) -> ChannelAccount:
    credentials = {k: v for k, v in (("usercode", usercode), ("password", password)) if v}
    return ChannelAccount(kind="sms_netgsm", external_id=external_id,
                          settings={"api_base_url": SIM, "msgheader": MSGHEADER, **settings},
                          credentials=credentials)


def outbound(body: str = "Merhaba", content_kind: str = "text", *, phone: str | None = PHONE,
             attachment_url: str | None = None, attachment: OutboundFile | None = None
             ) -> OutboundMessage:
    return OutboundMessage(message_id=uuid.uuid4(), recipient_handle=phone or "",
                           recipient_phone=phone, content_kind=content_kind, body=body,
                           attachment_url=attachment_url, attachment=attachment)


def only(items):
    assert len(items) == 1, items
    return items[0]


@pytest.fixture
def simulator() -> NetgsmSimulator:
    return create_simulator()


@pytest.fixture
async def adapter(simulator):
    made = NetgsmAdapter(transport=httpx.ASGITransport(app=simulator))
    yield made
    await made.aclose()


# ---- the reference samples -----------------------------------------------------------------------

INBOX_EVENT = InboundEvent(
    account_id="8501234567",
    provider_message_id=inbound_id("905321234567", "01.01.2026 10:15:02",
                                   "Siparişim ne zaman gelir?"),
    handle=PHONE, phone=PHONE, sent_at=datetime(2026, 1, 1, 7, 15, 2, tzinfo=UTC),
    content_kind="text", body="Siparişim ne zaman gelir?")
REPORT_EVENT = StatusEvent(account_id="", provider_message_id="17370012345",
                           status="delivered", at=datetime(2026, 1, 1, 7, 0, 7, tzinfo=UTC))
# Each sample on disk and the test that reads it.
SAMPLES = {
    "netgsm.inbox.response.json": "test_the_inbox_sample_is_a_customer_message",
    "netgsm.report.response.json": "test_the_report_sample_is_a_delivery",
    "netgsm.report.request.json": "test_a_report_query_is_exactly_as_documented",
    "netgsm.send.request.json": "test_texts_go_out_exactly_as_documented",
    "netgsm.send.response.json": "test_an_accepted_send_is_sent_with_its_jobid",
    "netgsm.send.error_auth.json": "test_wrong_credentials_are_netgsms_code_30",
}


def test_every_sample_on_disk_is_covered():
    assert {path.name for path in FIXTURES.glob("netgsm.*.json")} == set(SAMPLES)
    assert all(name in globals() for name in SAMPLES.values())


def test_the_inbox_sample_is_a_customer_message():
    assert parse_webhook(fixture("netgsm.inbox.response.json"), now=NOW) == [INBOX_EVENT]


def test_the_report_sample_is_a_delivery():
    assert parse_webhook(fixture("netgsm.report.response.json"), now=NOW) == [REPORT_EVENT]


async def test_a_report_query_is_exactly_as_documented(adapter, simulator):
    documented = fixture("netgsm.report.request.json")
    start = datetime(2026, 1, 1, 0, 0, tzinfo=TURKEY)
    stop = datetime(2026, 1, 1, 23, 59, 59, tzinfo=TURKEY)
    assert await adapter.fetch_reports(account(), documented["jobids"], start, stop) == []
    assert only(simulator.state.reports) == documented
    request = simulator.state.requests[-1]
    assert (request.method, request.path, request.headers["authorization"]) == (
        "POST", "/sms/rest/v2/report", BASIC)


async def test_texts_go_out_exactly_as_documented(adapter, simulator):
    documented = fixture("netgsm.send.request.json")
    for message in documented["messages"]:
        assert isinstance(await adapter.send(
            account(msgheader=documented["msgheader"]),
            outbound(message["msg"], phone="+90" + message["no"])), Sent)
    # One message per call (one job id each, which reports are asked about); else the same.
    bodies = [sent.body for sent in simulator.state.sent]
    assert bodies == [{**documented, "messages": [message]}
                      for message in documented["messages"]]
    assert {(s.authorization, s.content_type) for s in simulator.state.sent} == {
        (BASIC, "application/json")}
    assert {r.path for r in simulator.state.requests} == {"/sms/rest/v2/send"}


async def test_an_accepted_send_is_sent_with_its_jobid(adapter, simulator):
    documented = fixture("netgsm.send.response.json")
    result = await adapter.send(account(), outbound("Merhaba"))
    sent = only(simulator.state.sent)
    assert result == Sent(sent.jobid)
    assert simulator.state.jobs[sent.jobid].number == "5321234567"

    def answer(request):
        return httpx.Response(200, json=documented)

    replay = NetgsmAdapter(transport=httpx.MockTransport(answer))
    assert await replay.send(account(), outbound("x")) == Sent(documented["jobid"])
    await replay.aclose()


async def test_wrong_credentials_are_netgsms_code_30(adapter, simulator):
    documented = fixture("netgsm.send.error_auth.json")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        answer = await http.post("/sms/rest/v2/send", auth=(USERCODE, "wrong"), json={})
    assert answer.json() == documented
    result = await adapter.send(account(password="wrong"), outbound("x"))
    assert result == PermanentFailure("invalid_credentials", explain(
        "invalid_credentials", "en") + f" (Netgsm code 30: {documented['description']})")
    assert simulator.state.sent == []


# ---- parsing what the poller stores --------------------------------------------------------------

@pytest.mark.parametrize("status, expected", [
    (1, "delivered"), ("1", "delivered"), (0, None), (2, None), (99, None),
    *((status, "failed") for status in (3, 4, 11, 12, 13, 14, 15, 16, 17))])
def test_report_statuses_only_certain_ones_become_ours(status, expected):
    job = {**fixture("netgsm.report.response.json")["jobs"][0], "status": status,
           "errorCode": 451}
    events = parse_webhook(report_delivery(job, NUMBER), now=NOW)
    assert [e.status for e in events] == ([expected] if expected else [])
    if expected == "failed":
        event = only(events)
        assert (event.account_id, event.error_code) == (NUMBER, f"netgsm_status_{status}")
        assert event.error_title == (f"Netgsm status {status}: {FAILED_STATUSES[int(status)]} "
                                     "(error 451)")
    if expected == "delivered":
        assert only(events).error_code is None


def test_an_inbox_message_keeps_its_identity_and_the_channels_account():
    message = fixture("netgsm.inbox.response.json")["messages"][0]
    payload = inbox_delivery({**message, "extra": "ignored"}, NUMBER)
    assert payload == {"code": "00", "account_id": NUMBER, "messages": [message]}
    # The canonical body: the same message polled again is the same delivery.
    assert delivery_body(payload) == delivery_body(inbox_delivery(dict(message), NUMBER))
    event = only(parse_webhook(payload))
    assert event == INBOX_EVENT
    other = only(parse_webhook(inbox_delivery({**message, "message": "Başka"}, NUMBER)))
    assert other.provider_message_id != event.provider_message_id
    # Without the poller's account: the receiver, in national form.
    assert only(parse_webhook({"messages": [{**message, "receiver": "908501234567"}]})
                ).account_id == "8501234567"


@pytest.mark.parametrize("sender, handle, phone", [
    ("905321234567", PHONE, PHONE), ("05321234567", PHONE, PHONE),
    ("5321234567", PHONE, PHONE), ("+4915112345678", "+4915112345678", "+4915112345678"),
    ("NETGSM", "NETGSM", None)])
def test_senders_become_e164_phones(sender, handle, phone):
    message = {**fixture("netgsm.inbox.response.json")["messages"][0], "sender": sender}
    event = only(parse_webhook(inbox_delivery(message, "")))
    assert (event.handle, event.phone) == (handle, phone)


def test_a_message_with_a_bad_time_keeps_its_id_and_gets_the_current_time():
    message = {**fixture("netgsm.inbox.response.json")["messages"][0], "datetime": "dün"}
    event = only(parse_webhook(inbox_delivery(message, ""), now=NOW))
    assert event.sent_at == NOW
    assert event.provider_message_id == inbound_id(CUSTOMER, "dün", message["message"])


@pytest.mark.parametrize("payload", [
    [], {}, {"code": "40"}, {"messages": [{"message": "x"}]},  # no sender
    {"messages": [{"sender": CUSTOMER}]}, {"messages": ["x"]}, {"jobs": [{"status": 1}]},
    {"code": "30", "messages": []}])
def test_anything_else_is_refused(payload):
    with pytest.raises(ValueError):
        parse_webhook(payload)


def test_the_adapter_is_registered_and_parses():
    registered = adapter_for("sms_netgsm")
    assert isinstance(registered, NetgsmAdapter)
    assert registered.parse_webhook(fixture("netgsm.report.response.json")) == [REPORT_EVENT]


# ---- sending -------------------------------------------------------------------------------------

@pytest.mark.parametrize("phone", ["+905321234567", "905321234567", "05321234567",
                                   "5321234567", "+90 532 123 45 67", "0090 532 123 4567"])
def test_the_number_goes_in_national_form(phone):
    assert build_body(account(), outbound("x", phone=phone))["messages"] == [
        {"msg": "x", "no": "5321234567"}]


async def test_a_number_outside_turkey_is_refused(adapter, simulator):
    for phone in ("+4915112345678", "+1555123456", "12345", None):
        assert await adapter.send(account(), outbound("x", phone=phone)) == PermanentFailure(
            "invalid_number", explain("invalid_number", "en"))
    assert simulator.state.requests == []


@pytest.mark.parametrize("text, encoding, encoding_name, segments", [
    ("Kargonuz yola cikti. Takip: TR-100245", None, "GSM-7", 1),
    ("Çok güzel, Ömer Ünal", None, "GSM-7", 1),  # Ç Ö Ü ö ü are in the GSM alphabet
    ("ş" * 77, "TR", "GSM-7 Turkish", 1),  # 154 septets: one part
    ("ş" * 78, "TR", "GSM-7 Turkish", 2),  # 156: two parts of 149
    ("Teşekkürler 🙏", "TR", "UCS-2", 1),
    ("Thanks 🙏", None, "UCS-2", 1),
])
async def test_turkish_letters_pick_encoding_tr_and_the_parts_are_counted(
        adapter, simulator, text, encoding, encoding_name, segments):
    await adapter.send(account(), outbound(text))
    sent = only(simulator.state.sent)
    assert sent.body.get("encoding") == encoding
    length = sms_length(text, turkish_shift=True)
    assert (length.encoding, length.segments) == (encoding_name, segments)
    # The customer's phone gets the text unchanged, in as many parts as the composer showed.
    job = simulator.state.jobs[sent.jobid]
    assert (job.delivered_text, job.segments) == (text, segments)


async def test_without_tr_turkish_letters_would_arrive_plain(simulator):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        answer = await http.post("/sms/rest/v2/send", auth=(USERCODE, PASSWORD), json={
            "msgheader": MSGHEADER, "messages": [{"msg": "Teşekkürler", "no": "5321234567"}]})
    assert answer.json()["code"] == "00"
    assert simulator.state.jobs[answer.json()["jobid"]].delivered_text == "Tesekkürler"


async def test_only_text_goes_by_sms(adapter, simulator):
    upload = OutboundFile(data=b"%PDF", mime_type="application/pdf", filename="fatura.pdf")
    assert await adapter.send(account(), outbound("Faturanız", "document",
                                                  attachment=upload)) == PermanentFailure(
        "media_not_supported", explain("media_not_supported", "en"))
    assert simulator.state.sent == []
    # A file with a public address goes as the text and the link.
    await adapter.send(account(), outbound("Faturanız", "document",
                                           attachment_url="https://x.example/f.pdf"))
    await adapter.send(account(), outbound("", "image", attachment_url="https://x.example/p"))
    assert [s.body["messages"][0]["msg"] for s in simulator.state.sent] == [
        "Faturanız\nhttps://x.example/f.pdf", "https://x.example/p"]
    for kind in ("location", "template", "reaction"):
        assert (await adapter.send(account(), outbound("x", kind))).code == "invalid_message"
    assert (await adapter.send(account(), outbound("  "))).code == "invalid_message"


async def test_what_the_channel_lacks_is_said_before_calling(adapter, simulator):
    cases = [(account(msgheader=""), "missing_sender"),
             (account(password=None), "missing_credentials"),
             (account(usercode=None), "missing_credentials"),
             (account(api_base_url="netgsm.example"), "invalid_settings")]
    for setup, code in cases:
        assert await adapter.send(setup, outbound("x")) == PermanentFailure(
            code, explain(code, "en"))
    assert simulator.state.requests == []


# Every documented send result code, and one it does not document.
RESULTS = [("20", "text_refused", False), ("30", "invalid_credentials", False),
           ("40", "unknown_sender_header", False), ("50", "iys_not_allowed", False),
           ("51", "iys_brand_missing", False), ("70", "invalid_parameters", False),
           ("80", "rate_limited", True), ("85", "duplicate_limit", True),
           ("99", "netgsm_error", False), ("100", "netgsm_error", False)]


@pytest.mark.parametrize("code, ours, temporary", RESULTS)
@pytest.mark.parametrize("http_status", [406, 200])
async def test_every_result_code_is_mapped(adapter, simulator, code, ours, temporary,
                                           http_status):
    simulator.fail_next(code=code, http_status=http_status)
    result = await adapter.send(account(), outbound("x"))
    if temporary:
        assert isinstance(result, TemporaryFailure)
        assert result.retry_after_seconds == 60
        assert result.reason.startswith(f"Netgsm {code}: ")
    else:
        assert isinstance(result, PermanentFailure)
        assert result.code == ours
        assert result.message.startswith(explain(ours, "en"))
        assert f"Netgsm code {code}" in result.message
    assert simulator.state.sent == []
    # The next send goes through.
    assert isinstance(await adapter.send(account(), outbound("x")), Sent)


async def test_the_simulator_refuses_what_netgsm_would(adapter, simulator):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        def send(**body):
            return http.post("/sms/rest/v2/send", auth=(USERCODE, PASSWORD), json={
                "msgheader": MSGHEADER, "messages": [{"msg": "x", "no": "5321234567"}],
                **body})
        for body, code in (({"msgheader": "BASKA"}, "40"), ({"messages": []}, "70"),
                           ({"messages": [{"msg": "x", "no": "123"}]}, "70"),
                           ({"messages": [{"msg": " ", "no": "5321234567"}]}, "20"),
                           ({"encoding": "UTF8"}, "70"), ({"iysfilter": "7"}, "70")):
            assert (await send(**body)).json()["code"] == code, body
        simulator.iys_allowed = False
        assert (await send(iysfilter="11")).json()["code"] == "50"
        assert (await send(iysfilter="0")).json()["code"] == "00"
    # Through the adapter: an unknown sender name.
    assert (await adapter.send(account(msgheader="BASKA"), outbound("x"))).code == (
        "unknown_sender_header")


async def test_server_errors_are_temporary(adapter, simulator):
    simulator.fail_next(code=None, http_status=500)
    result = await adapter.send(account(), outbound("x"))
    assert result == TemporaryFailure("HTTP 500", retry_after_seconds=30)
    simulator.fail_next(code="100", http_status=503)
    assert isinstance(await adapter.send(account(), outbound("x")), TemporaryFailure)
    assert simulator.state.sent == []


async def test_answers_without_a_code():
    def handler(request):
        if request.url.path.endswith("/send") and b"ok" in request.content:
            return httpx.Response(200, text="queued")
        return httpx.Response(404, text="not found")

    made = NetgsmAdapter(transport=httpx.MockTransport(handler))
    assert (await made.send(account(), outbound("ok"))).code == "delivery_unknown"
    assert (await made.send(account(), outbound("x"))).code == "unexpected_answer"
    await made.aclose()


async def test_network_errors_before_and_after_sending():
    def refuse(request):
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    def lose(request):
        raise httpx.ReadTimeout(f"timed out on {request.url}")

    for handler, expected in ((refuse, TemporaryFailure), (lose, PermanentFailure)):
        made = NetgsmAdapter(transport=httpx.MockTransport(handler))
        result = await made.send(account(), outbound("x"))
        assert isinstance(result, expected)
        assert PASSWORD not in repr(result)
        if expected is PermanentFailure:
            assert result.code == "delivery_unknown"
        else:
            assert result == TemporaryFailure("Netgsm unreachable: ConnectError",
                                              retry_after_seconds=30)
        await made.aclose()


# ---- polling calls -------------------------------------------------------------------------------

async def test_the_inbox_is_asked_for_a_window_and_nothing_is_consumed(adapter, simulator):
    inside = simulator.customer_message("İçeride", at=NOW)
    simulator.customer_message("Önce", at=NOW - timedelta(hours=2))
    for _ in range(2):
        assert await adapter.fetch_inbox(account(), NOW - timedelta(minutes=5), NOW) == [
            inside]
    request = simulator.state.requests[-1]
    assert (request.method, request.path, request.query, request.headers["authorization"]) == (
        "GET", "/sms/rest/v2/inbox", "startdate=01012026125500&stopdate=01012026130000", BASIC)
    # Nothing in the window is Netgsm's code 40: no messages, not an error.
    assert await adapter.fetch_inbox(account(), NOW + timedelta(hours=1),
                                     NOW + timedelta(hours=2)) == []
    # Without a window each message is listed once (what the poller never does).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator),
                                 base_url=SIM) as http:
        first = await http.get("/sms/rest/v2/inbox", auth=(USERCODE, PASSWORD))
        again = await http.get("/sms/rest/v2/inbox", auth=(USERCODE, PASSWORD))
    assert (len(first.json()["messages"]), again.json()["code"]) == (2, "40")


async def test_polling_failures_say_why(adapter, simulator):
    with pytest.raises(PollFailed) as caught:
        await adapter.fetch_inbox(account(password="wrong"), NOW, NOW)
    assert caught.value.code == "30"
    simulator.fail_next(code="80", endpoint="report")
    with pytest.raises(PollFailed) as caught:
        await adapter.fetch_reports(account(), ["1"], NOW, NOW)
    assert caught.value.code == "80"
    simulator.fail_next(code=None, endpoint="inbox")
    with pytest.raises(PollFailed) as caught:
        await adapter.fetch_inbox(account(), NOW, NOW)
    assert caught.value.code == "provider_error"
    with pytest.raises(PollFailed) as caught:
        await adapter.fetch_inbox(account(usercode=None), NOW, NOW)
    assert caught.value.code == "missing_credentials"
    assert await adapter.fetch_reports(account(), [], NOW, NOW) == []  # nothing to ask


async def test_the_simulator_limits_report_queries_to_ten_a_minute(adapter, simulator):
    for _ in range(10):
        assert await adapter.fetch_reports(account(), ["1"], NOW, NOW) == []  # 60: no records
    with pytest.raises(PollFailed) as caught:
        await adapter.fetch_reports(account(), ["1"], NOW, NOW)
    assert caught.value.code == "80"


# ---- connection, explanations --------------------------------------------------------------------

async def test_check_connection_names_the_sender_names(adapter, simulator):
    assert await adapter.check_connection(account()) == ConnectionCheck(
        ok=True, detail="Sender names: ORNEKMAGAZA, ORNEK")
    request = only(simulator.state.requests)
    assert (request.method, request.path, request.headers["authorization"]) == (
        "GET", "/sms/rest/v2/msgheader", BASIC)
    other = await adapter.check_connection(account(msgheader="BASKA"))
    assert (other.ok, other.error_code, other.detail) == (
        False, "unknown_sender_header",
        "'BASKA' is not among the account's sender names: ORNEKMAGAZA, ORNEK")
    none = await adapter.check_connection(account(msgheader=""))
    assert (none.ok, none.error_code) == (False, "missing_sender")
    wrong = await adapter.check_connection(account(password="wrong"))
    assert (wrong.ok, wrong.error_code) == (False, "invalid_credentials")
    assert wrong.detail.startswith("Netgsm code 30: ")
    assert (await adapter.check_connection(account(usercode=None))).error_code == (
        "missing_credentials")
    simulator.fail_next(code=None, endpoint="msgheader")
    assert (await adapter.check_connection(account())).error_code == "provider_error"


async def test_check_connection_when_netgsm_is_unreachable_or_not_netgsm():
    def refuse(request):
        raise httpx.ConnectError("no")

    def other(request):
        return httpx.Response(200, text="<html>")

    for handler, code in ((refuse, "unreachable"), (other, "unexpected_answer")):
        made = NetgsmAdapter(transport=httpx.MockTransport(handler))
        check = await made.check_connection(account())
        assert (check.ok, check.error_code) == (False, code)
        await made.aclose()


def test_explanations_in_turkish_and_english():
    codes = {ours for _, ours, _ in RESULTS} | {
        "invalid_number", "media_not_supported", "delivery_unknown", "missing_credentials",
        "missing_sender", "invalid_settings", "invalid_message", "connected", "unreachable",
        "provider_error", "unexpected_answer", "netgsm_status_12"}
    for code in codes:
        english, turkish = explain(code, "en"), explain(code, "tr")
        assert english and turkish and english != turkish, code
        assert english != explain("no-such-code", "en"), code
    assert "İYS" in explain("iys_brand_missing", "tr")
    assert explain("rate_limited", "tr-TR") == explain("rate_limited", "tr")
    assert explain("netgsm_status_3", "en") == explain("not_delivered", "en")
    assert explain("999", "tr") == "Netgsm mesajı iletemedi."
    assert explain("999", "de") == "Netgsm could not deliver the message."
    assert NetgsmAdapter().explain("rate_limited", "tr") == explain("rate_limited", "tr")


# ---- end to end: the poller, the intake, the ingest job, the outbound job ----------------------

class NetgsmWorld(ChannelWorld):
    async def poll(self, now: datetime | None = None) -> netgsm_polling.PollResult:
        """What the periodic job does for this channel, then the ingest job."""
        home = self.home
        result = await netgsm_polling.poll_channel(home.rt.db, home.tenant_id, self.channel_id,
                                                   now=now or datetime.now(UTC))
        await self.ingest_all()
        return result

    async def inbound(self) -> list[Message]:
        return await self.rows(select(Message).where(
            Message.channel_id == self.channel_id, Message.direction == "inbound"
        ).order_by(Message.created_at))

    async def status_of(self, message_id: uuid.UUID) -> tuple[str, str | None]:
        message = await self.scalar(select(Message).where(Message.id == message_id))
        return message.status, message.error_code


@pytest.fixture
async def netgsm(world):
    home = world.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        channel = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS · Netgsm", external_id=NUMBER,
            settings={"api_base_url": SIM, "msgheader": MSGHEADER},
            credentials={"usercode": USERCODE, "password": PASSWORD}))
    simulator = create_simulator()
    original = adapters.adapter_for("sms_netgsm")
    adapters.register(NetgsmAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield NetgsmWorld(home, channel.id, simulator, "sms_netgsm")
    adapters.register(original)


async def _count(world: ChannelWorld, model) -> int:
    return await world.scalar(select(func.count()).select_from(model).where(
        model.channel_id == world.channel_id))


async def _conversation_with_reply(netgsm: NetgsmWorld, text: str = "Yarın teslim edilecek."
                                   ) -> uuid.UUID:
    netgsm.simulator.customer_message("Kargom ne zaman gelir?")
    await netgsm.poll()
    inbound = only(await netgsm.inbound())
    reply_id = await netgsm.reply(inbound.conversation_id, text)
    await netgsm.deliver_reply(reply_id)
    return reply_id


async def test_a_polled_sms_becomes_contact_conversation_and_message(netgsm):
    netgsm.simulator.customer_message("Siparişim nerede?")
    result = await netgsm.poll()
    assert (result.inbound, result.errors) == (1, [])
    message = only(await netgsm.inbound())
    assert (message.content_kind, message.body, message.status) == (
        "text", "Siparişim nerede?", "delivered")
    assert message.provider_message_id.startswith("netgsm:")
    identity = await netgsm.scalar(select(ContactIdentity).where(
        ContactIdentity.contact_id == message.contact_id))
    assert (identity.channel_id, identity.handle) == (netgsm.channel_id, PHONE)
    contact = await netgsm.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert contact.phone == PHONE
    # The window polled: from an hour back (the first poll) to a little ahead.
    query = netgsm.simulator.state.requests[0]
    assert query.path == "/sms/rest/v2/inbox"


async def test_polling_the_same_window_again_adds_nothing(netgsm):
    netgsm.simulator.customer_message("Bir kez yazdım")
    now = datetime.now(UTC)
    assert (await netgsm.poll(now)).inbound == 1
    for later in (now, now + timedelta(seconds=30), now + timedelta(minutes=5)):
        assert (await netgsm.poll(later)).inbound == 0
    assert len(await netgsm.inbound()) == 1
    assert await _count(netgsm, WebhookEvent) == 1
    # The same text again, a second later, is another message.
    netgsm.simulator.customer_message("Bir kez yazdım", at=datetime.now(UTC) + timedelta(
        seconds=1))
    assert (await netgsm.poll(now + timedelta(minutes=6))).inbound == 1
    assert [m.body for m in await netgsm.inbound()] == ["Bir kez yazdım"] * 2


async def test_the_window_follows_the_last_poll(netgsm):
    now = datetime.now(UTC)
    netgsm.simulator.customer_message("Eski", at=now - timedelta(hours=3))
    await netgsm.poll(now)  # a new channel looks back an hour only
    assert await netgsm.inbound() == []
    settings = await netgsm.scalar(select(Channel.settings).where(
        Channel.id == netgsm.channel_id))
    assert datetime.fromisoformat(settings[netgsm_polling.INBOX_CURSOR]) == now
    assert settings["msgheader"] == MSGHEADER  # merged, not replaced
    # The worker was down for three hours: the next poll catches up from where it stopped.
    netgsm.simulator.customer_message("Kesinti sırasında", at=now + timedelta(minutes=20))
    await netgsm.poll(now + timedelta(hours=3))
    assert [m.body for m in await netgsm.inbound()] == ["Kesinti sırasında"]
    # A failed poll leaves the cursor where it was: the window is asked again.
    netgsm.simulator.fail_next(code="30", endpoint="inbox")
    failed = await netgsm.poll(now + timedelta(hours=4))
    assert failed.errors and failed.inbound == 0
    settings = await netgsm.scalar(select(Channel.settings).where(
        Channel.id == netgsm.channel_id))
    assert datetime.fromisoformat(settings[netgsm_polling.INBOX_CURSOR]) == now + timedelta(
        hours=3)


async def test_sms_to_the_accounts_other_numbers_are_not_this_channels(netgsm):
    netgsm.simulator.customer_message("Bize", receiver="908501234567")
    netgsm.simulator.customer_message("Başka hatta", receiver="8509999999")
    assert (await netgsm.poll()).inbound == 1
    assert [m.body for m in await netgsm.inbound()] == ["Bize"]


async def test_iptal_by_sms_puts_the_number_on_the_opt_out_list(netgsm):
    netgsm.simulator.customer_message("İPTAL")
    netgsm.simulator.customer_message("Merhaba", sender="905339998877")
    await netgsm.poll()
    assert len(await netgsm.inbound()) == 2
    opt_outs = await netgsm.rows(select(SmsOptOut).where(
        SmsOptOut.tenant_id == netgsm.home.tenant_id))
    assert [(o.phone, o.keyword) for o in opt_outs] == [(PHONE, "İPTAL")]


async def test_a_reply_goes_out_and_its_report_marks_it_delivered(netgsm):
    reply_id = await _conversation_with_reply(netgsm)
    sent = only(netgsm.simulator.state.sent)
    assert sent.body == {"msgheader": MSGHEADER, "encoding": "TR", "iysfilter": "0",
                         "messages": [{"msg": "Yarın teslim edilecek.", "no": "5321234567"}]}
    stored = await netgsm.scalar(select(Message).where(Message.id == reply_id))
    assert (stored.status, stored.provider_message_id) == ("sent", sent.jobid)
    # Still pending at Netgsm (status 0): nothing changes, nothing is stored.
    now = datetime.now(UTC)
    result = await netgsm.poll(now)
    assert (result.reports_queried, result.statuses) == (True, 0)
    assert await netgsm.status_of(reply_id) == ("sent", None)
    netgsm.simulator.set_status(sent.jobid, 1)
    result = await netgsm.poll(now + timedelta(seconds=61))
    assert (result.reports_queried, result.statuses) == (True, 1)
    assert await netgsm.status_of(reply_id) == ("delivered", None)
    # Delivered messages are not asked about again.
    queries = len(netgsm.simulator.state.reports)
    assert not (await netgsm.poll(now + timedelta(seconds=122))).reports_queried
    assert len(netgsm.simulator.state.reports) == queries


@pytest.mark.parametrize("status", [3, 12, 16])
async def test_a_failed_report_fails_the_message_with_netgsms_code(netgsm, status):
    reply_id = await _conversation_with_reply(netgsm)
    netgsm.simulator.set_status(only(netgsm.simulator.state.sent).jobid, status,
                                error_code=451)
    await netgsm.poll()
    message = await netgsm.scalar(select(Message).where(Message.id == reply_id))
    assert (message.status, message.error_code) == ("failed", f"netgsm_status_{status}")
    assert message.error_message == (f"Netgsm status {status}: {FAILED_STATUSES[status]} "
                                     "(error 451)")


@pytest.mark.parametrize("status", [0, 2])
async def test_ambiguous_statuses_leave_the_message_sent(netgsm, status):
    reply_id = await _conversation_with_reply(netgsm)
    netgsm.simulator.set_status(only(netgsm.simulator.state.sent).jobid, status)
    result = await netgsm.poll()
    assert (result.reports_queried, result.statuses) == (True, 0)
    assert await netgsm.status_of(reply_id) == ("sent", None)


async def test_reports_are_asked_once_a_minute_for_all_sent_messages_at_once(netgsm):
    netgsm.simulator.customer_message("Merhaba")
    await netgsm.poll()
    inbound = only(await netgsm.inbound())
    replies = [await netgsm.reply(inbound.conversation_id, f"Yanıt {n}") for n in range(3)]
    for reply_id in replies:
        await netgsm.deliver_reply(reply_id)
    jobids = [s.jobid for s in netgsm.simulator.state.sent]
    now = datetime.now(UTC)
    first = await netgsm.poll(now)
    assert first.reports_queried
    report = only(netgsm.simulator.state.reports)
    assert sorted(report["jobids"]) == sorted(jobids)
    assert (report["pagenumber"], report["pagesize"]) == (0, 100)
    # Within the minute, however often polled, no second query.
    for later in (now, now + timedelta(seconds=20), now + timedelta(seconds=54)):
        assert not (await netgsm.poll(later)).reports_queried
    assert len(netgsm.simulator.state.reports) == 1
    for jobid in jobids:
        netgsm.simulator.set_status(jobid, 1)
    assert (await netgsm.poll(now + timedelta(seconds=60))).statuses == 3
    assert [await netgsm.status_of(r) for r in replies] == [("delivered", None)] * 3
    # Polling the same report again (say, before the ingest ran) stores nothing new.
    async with netgsm.home.rt.db.tenant_session(netgsm.home.tenant_id) as session:
        channel = await session.get_one(Channel, netgsm.channel_id)
        target = channels.WebhookChannel(netgsm.home.tenant_id, channel.id, channel.kind, {})
    job = netgsm.simulator.state.jobs[jobids[0]].report()
    payload = report_delivery(job, NUMBER)
    assert not await intake.store(netgsm.home.rt.db, target, delivery_body(payload), payload)


async def test_a_failed_report_query_is_tried_the_next_minute(netgsm):
    reply_id = await _conversation_with_reply(netgsm)
    netgsm.simulator.set_status(only(netgsm.simulator.state.sent).jobid, 1)
    netgsm.simulator.fail_next(code="80", endpoint="report")
    now = datetime.now(UTC)
    failed = await netgsm.poll(now)
    assert failed.reports_queried and failed.errors
    assert await netgsm.status_of(reply_id) == ("sent", None)
    await netgsm.poll(now + timedelta(seconds=60))
    assert await netgsm.status_of(reply_id) == ("delivered", None)


async def test_a_rate_limit_is_retried_and_the_message_sent_once(netgsm):
    netgsm.simulator.customer_message("Merhaba")
    await netgsm.poll()
    inbound = only(await netgsm.inbound())
    reply_id = await netgsm.reply(inbound.conversation_id, "Sırada")
    netgsm.simulator.fail_next(code="85")
    with pytest.raises(ProviderUnavailable):
        await netgsm.deliver_reply(reply_id)
    assert await netgsm.status_of(reply_id) == ("pending", None)
    await netgsm.deliver_reply(reply_id)
    await netgsm.deliver_reply(reply_id)  # a rerun
    assert len(netgsm.simulator.state.sent) == 1
    assert await netgsm.status_of(reply_id) == ("sent", None)


async def test_an_unknown_sender_name_fails_without_retry(netgsm):
    netgsm.simulator.msgheaders = ["BASKA"]
    reply_id = await _conversation_with_reply(netgsm)  # no raise: permanent
    message = await netgsm.scalar(select(Message).where(Message.id == reply_id))
    assert (message.status, message.error_code) == ("failed", "unknown_sender_header")
    assert message.error_message.startswith(explain("unknown_sender_header", "en"))
    assert netgsm.simulator.state.sent == []


async def test_the_periodic_job_polls_every_active_netgsm_channel(netgsm):
    home = netgsm.home
    async with home.rt.db.tenant_session(home.tenant_id) as session:
        off = await channels.create_channel(session, home.system, ChannelCreate(
            kind="sms_netgsm", name="SMS · kapalı", external_id="8507654321",
            settings={"api_base_url": SIM, "msgheader": MSGHEADER},
            credentials={"usercode": USERCODE, "password": PASSWORD}))
        off.is_active = False
    netgsm.simulator.customer_message("Periyodik")
    netgsm.simulator.customer_message("Kapalı kanala", receiver="8507654321")
    listed = await netgsm_polling.channels_to_poll(home.rt.db)
    assert (home.tenant_id, netgsm.channel_id) in listed
    assert (home.tenant_id, off.id) not in listed
    await channel_tasks.poll_netgsm(timestamp=0)
    await netgsm.ingest_all()
    assert [m.body for m in await netgsm.inbound()] == ["Periyodik"]
    assert await netgsm.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.channel_id == off.id)) == 0
