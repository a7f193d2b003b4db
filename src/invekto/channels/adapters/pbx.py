"""A call center's own PBX (Asterisk, FreePBX, Verimor, Netgsm santral...) reporting its calls to
us: one documented JSON webhook, `POST /webhooks/voice/{channel_id}` with our token header
(``X-Invekto-Webhook-Token``, shown once when the channel is made). Only a call's final event
makes an entry; the PBX may send the earlier ones (``ringing``, ``answered``), they are ignored.

    {"event": "call.ended",            # required; other events are accepted and ignored
     "call_id": "1732612345.42",       # required, unique per call on this PBX
     "direction": "inbound",           # inbound (a customer called) or outbound (we called)
     "from": "+905321234567", "to": "+908501234567",   # E.164 or national numbers
     "agent": "ahmet",                 # optional: the extension's user or its name
     "started_at": "2026-11-26T09:15:02+03:00",         # ISO 8601 (or unix seconds)
     "answered_at": "2026-11-26T09:15:09+03:00",        # optional; none: not answered
     "ended_at": "2026-11-26T09:18:40+03:00",
     "outcome": "answered",            # answered | missed | busy | no_answer | failed
     "recording_url": "https://pbx.example.com/rec/1732612345.42.mp3"}   # optional

An inbound call is the customer's (a missed one opens the conversation and waits for a call
back); an outbound call is kept like a message the business sent.

Click-to-call: with ``settings["originate_url"]`` set, `originate` asks the PBX to connect an
agent with a customer: ``POST`` JSON ``{"agent", "extension" (when known), "to", "call_id"}``
with the same token header; any 2xx is taken, 429/5xx/unreachable are worth another try, any
other answer is a refusal (its ``error``/``message`` shown). The PBX reports the call as usual,
under that ``call_id``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from invekto.channels.adapters.base import (
    CallingAgent,
    CallPlaced,
    CallResult,
    ChannelAccount,
    InboundEvent,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.http import PooledHttp
from invekto.core.errors import ValidationFailed
from invekto.core.phone import to_e164

OUTCOMES = ("answered", "missed", "busy", "no_answer", "failed")
FINAL_EVENT = "call.ended"
# Our header on the PBX's webhooks, and on our click-to-call requests to it.
TOKEN_HEADER = "X-Invekto-Webhook-Token"


class PbxAdapter(PooledHttp):
    kind = "voice"
    provider_name = "the PBX"

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        """A phone line carries calls, not messages: a reply fails visibly, nothing is lost."""
        return PermanentFailure(code="channel_cannot_send",
                                message="a phone line cannot carry written messages: call the "
                                        "customer back, or write on one of their other channels")

    def can_originate(self, account: ChannelAccount) -> bool:
        return _originate_url(account) is not None

    def originate_body(self, agent: CallingAgent, customer_phone: str, call_id: str
                       ) -> dict[str, str]:
        body = {"agent": agent.username, "to": customer_phone, "call_id": call_id}
        if agent.extension:
            body["extension"] = agent.extension
        return body

    async def originate(self, account: ChannelAccount, agent: CallingAgent,
                        customer_phone: str) -> CallResult:
        """Ask the PBX to ring ``agent`` and then the customer (see the module's docstring)."""
        url = _originate_url(account)
        if url is None:
            return PermanentFailure("no_originate_url",
                                    "the channel has no click-to-call address for the PBX")
        call_id = str(uuid.uuid4())
        headers = {TOKEN_HEADER: str((account.credentials or {}).get("webhook_token") or "")}
        try:
            response = await self._http().post(
                url, json=self.originate_body(agent, customer_phone, call_id), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout) as exc:
            return TemporaryFailure(reason=f"the PBX is unreachable: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return PermanentFailure("call_unknown", "the connection to the PBX broke after the "
                                    f"call was requested ({type(exc).__name__})")
        if response.is_success:
            return CallPlaced(call_id=call_id)
        if response.status_code == 429 or response.status_code >= 500:
            return TemporaryFailure(reason=f"HTTP {response.status_code} from the PBX")
        return PermanentFailure(f"http_{response.status_code}",
                                _refusal(response) or f"HTTP {response.status_code}")


def _originate_url(account: ChannelAccount) -> str | None:
    url = str((account.settings or {}).get("originate_url") or "").strip()
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _refusal(response: httpx.Response) -> str:
    """The PBX's reason, if its answer gives one (``{"error": ...}`` or ``{"message": ...}``)."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(data, dict):
        reason = data.get("error") or data.get("message")
        if isinstance(reason, dict):
            reason = reason.get("message")
        return str(reason or "")[:300]
    return ""


def parse_webhook(payload: dict[str, Any]) -> list[WebhookEvent]:
    """The call entry a final event makes, or nothing for the events before it. ValueError for
    a payload that is not a call event."""
    if not isinstance(payload, dict) or not payload.get("call_id") or not payload.get("event"):
        raise ValueError("not a PBX call event (call_id and event are required)")
    if payload["event"] != FINAL_EVENT:
        return []
    direction = payload.get("direction")
    if direction not in ("inbound", "outbound"):
        raise ValueError("a PBX call event's direction is inbound or outbound")
    outcome = payload.get("outcome")
    if outcome not in OUTCOMES:
        raise ValueError(f"a PBX call event's outcome is one of {', '.join(OUTCOMES)}")
    customer = str(payload.get("from" if direction == "inbound" else "to") or "")
    try:
        phone = to_e164(customer)
    except ValidationFailed as exc:
        raise ValueError(f"the customer's number {customer!r} is not a phone number") from exc
    started = _moment(payload.get("started_at"))
    ended = _moment(payload.get("ended_at"), default=started)
    answered = _moment(payload.get("answered_at")) if payload.get("answered_at") else None
    call = {"direction": direction, "outcome": outcome, "from": payload.get("from"),
            "to": payload.get("to"), "started_at": started.isoformat(),
            "ended_at": ended.isoformat(),
            # Talk time: from the answer to the end (a missed call has none).
            "duration_seconds": max(0, int((ended - answered).total_seconds()))
            if answered else 0}
    if payload.get("agent"):
        call["agent"] = str(payload["agent"])[:100]
    recording = str(payload.get("recording_url") or "")
    if recording.startswith(("https://", "http://")):  # a link agents open: nothing else
        call["recording_url"] = recording[:500]
    return [InboundEvent(
        account_id="", provider_message_id=f"call:{payload['call_id']}", handle=phone,
        phone=phone, sent_at=started, content_kind="call", body="", payload={"call": call},
        echo=direction == "outbound")]


def _moment(value: Any, default: datetime | None = None) -> datetime:
    if value in (None, "") and default is not None:
        return default
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(float(value), UTC)
        moment = datetime.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a PBX call event's time {value!r} is not ISO 8601") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
