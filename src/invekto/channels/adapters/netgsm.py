"""Netgsm SMS (``sms_netgsm``), Turkey's SMS provider, through its REST v2 API.

Channel setup: ``credentials["usercode"]`` (the subscriber number or an API sub-user) and
``credentials["password"]`` authenticate every call with HTTP basic auth;
``settings["msgheader"]`` is the sender name (BTK-registered, at most 11 characters) customers
see; ``settings["api_base_url"]`` defaults to https://api.netgsm.com.tr (the simulator
otherwise). ``external_id``, optional, is the number customers text (national form,
``8501234567``): when set, inbound SMS to the account's other numbers are not this channel's.

Sending: ``POST /sms/rest/v2/send`` with one message per call (one job id per message, which is
what delivery reports are asked about). ``encoding: "TR"`` only when the text has a Turkish
letter (ç ğ ı ş İ Ğ Ş, see `channels.sms`), ``iysfilter: "0"``: our sends are conversational
replies, not commercial messages (İYS). Only text goes by SMS: a file an agent uploaded is
refused (``media_not_supported``); a message with a public ``attachment_url`` goes as its text
and the link.

Netgsm does not push (no documented webhook): ``channels/netgsm_polling.py`` asks for inbound
SMS (``GET /sms/rest/v2/inbox`` over a date window) and delivery reports
(``POST /sms/rest/v2/report``) every minute, and stores what it finds through the webhook intake
as if it had been pushed, one delivery per message or report (`inbox_delivery`,
`report_delivery`); `parse_webhook` turns those into events.

* An inbox message has no id: its provider id is a hash of (sender, datetime, message), so the
  same message polled again (windows overlap) is the same message.
* A report's ``status`` is defined differently by Netgsm's own client libraries; only ``1`` is
  certainly "delivered". Statuses that mean failure in both readings (`FAILED_STATUSES`) are
  ``failed`` with ``netgsm_status_{N}``; the ambiguous ones (0, 2) are left pending.

Netgsm's times are Turkey's (Europe/Istanbul, no daylight saving since 2016).

Wire format: /work/shared/reference/providers/netgsm.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    InboundEvent,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    Sent,
    StatusEvent,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.http import PooledHttp, api_base
from invekto.channels.sms import sms_length

__all__ = [
    "API_BASE_URL",
    "FAILED_STATUSES",
    "NetgsmAdapter",
    "PollFailed",
    "build_body",
    "delivery_body",
    "explain",
    "inbound_id",
    "inbox_delivery",
    "national_number",
    "needs_turkish",
    "parse_webhook",
    "report_delivery",
    "result_code",
]

API_BASE_URL = "https://api.netgsm.com.tr"
SEND_PATH = "/sms/rest/v2/send"
REPORT_PATH = "/sms/rest/v2/report"
INBOX_PATH = "/sms/rest/v2/inbox"
MSGHEADER_PATH = "/sms/rest/v2/msgheader"
TURKEY = ZoneInfo("Europe/Istanbul")
# The report's page size limit (1-100): also how many job ids one query asks about.
REPORT_PAGE = 100
# Netgsm's rate and duplicate limits are per minute: a retry sooner would be refused again.
LIMIT_RETRY_SECONDS = 60.0
SERVER_ERROR_RETRY_SECONDS = 30.0

# Send result codes → ours (and whether trying again later may work).
_SEND_CODES: dict[str, tuple[str, bool]] = {
    "20": ("text_refused", False),
    "30": ("invalid_credentials", False),
    "40": ("unknown_sender_header", False),
    "50": ("iys_not_allowed", False),
    "51": ("iys_brand_missing", False),
    "70": ("invalid_parameters", False),
    "80": ("rate_limited", True),
    "85": ("duplicate_limit", True),
}
# Report statuses that are failures in both of Netgsm's status tables (variant A: 3 invalid
# number, 4 not sent to the operator, 11 rejected, 12 delivery error, 13 duplicate, 14 balance,
# 15 blacklisted, 16 İYS rejected, 17 İYS error; variant B: 3 timeout, 4 error, 11-13 operator or
# Netgsm errors, 14-17 undefined). 0 (pending / not delivered) and 2 (expired / pending) stay
# pending: confirm with Netgsm before mapping them.
DELIVERED_STATUS = 1
FAILED_STATUSES: dict[int, str] = {
    3: "invalid number or timeout", 4: "not sent to the operator", 11: "rejected",
    12: "delivery error", 13: "duplicate or Netgsm error", 14: "insufficient balance",
    15: "number blacklisted", 16: "rejected by İYS", 17: "İYS error",
}


# ---- human explanations of error codes, for the UI ----------------------------------------------

_EXPLANATIONS: dict[str, tuple[str, str]] = {  # code → (English, Turkish)
    "invalid_number": ("Netgsm sends only to Turkish phone numbers; the recipient's number is "
                       "not one.",
                       "Netgsm yalnızca Türkiye'deki telefon numaralarına gönderir; alıcının "
                       "numarası geçerli bir Türkiye numarası değil."),
    "text_refused": ("Netgsm refused the text (a problem in it, or longer than allowed); "
                     "shorten it or split it into several messages.",
                     "Netgsm metni kabul etmedi (metinde bir sorun var ya da izin verilenden "
                     "uzun); kısaltın ya da birkaç mesaja bölün."),
    "invalid_credentials": ("Netgsm refused the user code or password, the user has no API "
                            "access, or this server's IP address is not allowed; an admin must "
                            "check them in the Netgsm panel.",
                            "Netgsm kullanıcı kodunu ya da şifreyi kabul etmedi, kullanıcının "
                            "API yetkisi yok ya da bu sunucunun IP adresine izin verilmemiş; bir "
                            "yöneticinin Netgsm panelinden kontrol etmesi gerekiyor."),
    "unknown_sender_header": ("The channel's sender name (message header) is not defined on the "
                              "Netgsm account; an admin must enter one of the account's.",
                              "Kanalın gönderici adı (mesaj başlığı) Netgsm hesabında "
                              "tanımlı değil; bir yöneticinin hesaptaki başlıklardan birini "
                              "girmesi gerekiyor."),
    "iys_not_allowed": ("The Netgsm account may not send İYS-checked messages.",
                        "Netgsm hesabı İYS kontrollü gönderim yapamıyor."),
    "iys_brand_missing": ("The Netgsm account has no İYS brand information.",
                          "Netgsm hesabında İYS marka bilgisi yok."),
    "invalid_parameters": ("Netgsm said a field of the request was wrong or missing.",
                           "Netgsm, isteğin bir alanının hatalı ya da eksik olduğunu bildirdi."),
    "rate_limited": ("Netgsm's sending limit was reached; the message will be tried again in "
                     "a minute.",
                     "Netgsm gönderim sınırına ulaşıldı; mesaj bir dakika sonra yeniden "
                     "denenecek."),
    "duplicate_limit": ("More than 20 messages went to this number within a minute; the "
                        "message will be tried again in a minute.",
                        "Bu numaraya bir dakika içinde 20'den fazla mesaj gönderildi; mesaj bir "
                        "dakika sonra yeniden denenecek."),
    "netgsm_error": ("Netgsm answered with an error code it does not document for sending.",
                     "Netgsm, gönderim için belgelemediği bir hata koduyla yanıt verdi."),
    "media_not_supported": ("Only text goes by SMS: a file cannot be sent on this channel. Send "
                            "a link instead.",
                            "SMS ile yalnızca metin gönderilir: bu kanaldan dosya "
                            "gönderilemez. Bunun yerine bir bağlantı gönderin."),
    "delivery_unknown": ("The connection broke after the message was handed over, so it may or "
                         "may not have been sent; check before sending again.",
                         "Mesaj iletildikten sonra bağlantı koptu; gönderilmiş olabilir. "
                         "Yeniden göndermeden önce kontrol edin."),
    "missing_credentials": ("The channel has no Netgsm user code or password; an admin must "
                            "enter them.",
                            "Kanalda Netgsm kullanıcı kodu ya da şifresi yok; bir yöneticinin "
                            "girmesi gerekiyor."),
    "missing_sender": ("The channel has no sender name (message header); an admin must enter "
                       "one of the Netgsm account's.",
                       "Kanalda gönderici adı (mesaj başlığı) yok; bir yöneticinin Netgsm "
                       "hesabındaki başlıklardan birini girmesi gerekiyor."),
    "invalid_settings": ("The channel's Netgsm API address is not valid; an admin must fix the "
                         "channel settings.",
                         "Kanalın Netgsm API adresi geçersiz; bir yöneticinin kanal ayarlarını "
                         "düzeltmesi gerekiyor."),
    "invalid_message": ("This message cannot be sent by SMS as it is.",
                        "Bu mesaj bu haliyle SMS ile gönderilemez."),
    "not_delivered": ("Netgsm reported that the SMS did not reach the phone.",
                      "Netgsm, SMS'in telefona ulaşmadığını bildirdi."),
    # What a connection check found.
    "connected": ("The connection works.", "Bağlantı çalışıyor."),
    "unreachable": ("Netgsm could not be reached at the channel's API address; check the "
                    "address and this server's internet connection.",
                    "Kanalın API adresinden Netgsm'e ulaşılamadı; adresi ve bu sunucunun "
                    "internet bağlantısını kontrol edin."),
    "provider_error": ("Netgsm answered with a server error; try again in a few minutes.",
                       "Netgsm bir sunucu hatasıyla yanıt verdi; birkaç dakika sonra yeniden "
                       "deneyin."),
    "unexpected_answer": ("The answer from the channel's API address was not Netgsm's; check "
                          "the address.",
                          "Kanalın API adresinden gelen yanıt Netgsm'in yanıtı değil; adresi "
                          "kontrol edin."),
}
_GENERIC = ("Netgsm could not deliver the message.", "Netgsm mesajı iletemedi.")


def explain(code: str, language: str) -> str:
    """A short sentence for people about one of this module's codes (a report's
    ``netgsm_status_{N}`` too), in Turkish (``tr``) or English (anything else); unknown codes
    get a generic sentence."""
    code = str(code).strip()
    if code.startswith("netgsm_status_"):
        code = "not_delivered"
    english, turkish = _EXPLANATIONS.get(code, _GENERIC)
    return turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english


# ---- numbers, texts, times -----------------------------------------------------------------------

_NATIONAL = re.compile(r"[1-9][0-9]{9}")


def national_number(number: str) -> str | None:
    """A Turkish number as Netgsm's ``no`` wants it (``5321234567``), from +90…, 0090…, 90…,
    0… or already national; None for anything else (another country, not a number)."""
    digits = re.sub(r"[\s().-]", "", number or "")
    for prefix in ("+90", "0090"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if len(digits) == 12 and digits.startswith("90"):
            digits = digits[2:]
        elif len(digits) == 11 and digits.startswith("0"):
            digits = digits[1:]
    return digits if _NATIONAL.fullmatch(digits) else None


def _e164(number: str) -> str | None:
    """A sender's number in E.164 (Netgsm gives ``905321234567``); None when not a number."""
    national = national_number(number)
    if national:
        return "+90" + national
    digits = number.strip().removeprefix("+")
    return "+" + digits if digits.isdigit() and 7 <= len(digits) <= 15 else None


def needs_turkish(text: str) -> bool:
    """Whether ``text`` has a letter only Netgsm's ``encoding: TR`` (the Turkish single-shift
    table) carries: without it Netgsm sends ş, ğ, ı... as their plain look-alikes."""
    return any(sms_length(c, turkish_shift=True).encoding == "GSM-7 Turkish" for c in set(text))


def netgsm_time(value: str) -> datetime | None:
    """Netgsm's ``dd.MM.yyyy HH:mm:ss`` (Turkey's time) as an aware UTC datetime."""
    try:
        return datetime.strptime(value.strip(), "%d.%m.%Y %H:%M:%S").replace(
            tzinfo=TURKEY).astimezone(UTC)
    except (AttributeError, ValueError):
        return None


def inbox_time(at: datetime) -> str:
    """A bound of an inbox query: ``ddMMyyyyHHmmss`` in Turkey's time."""
    return at.astimezone(TURKEY).strftime("%d%m%Y%H%M%S")


def report_time(at: datetime) -> str:
    """A bound of a report query: ``dd.MM.yyyy HH:mm:ss`` in Turkey's time."""
    return at.astimezone(TURKEY).strftime("%d.%m.%Y %H:%M:%S")


# ---- inbound: the deliveries the poller stores, and their events --------------------------------

_INBOX_FIELDS = ("message", "sender", "receiver", "datetime")
_REPORT_FIELDS = ("jobid", "number", "status", "errorCode", "deliveredDate")


def inbox_delivery(message: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """What the poller stores for one inbox message: Netgsm's answer holding only it (its
    documented fields), with the channel's ``account_id`` (its ``external_id`` or "")."""
    return {"code": "00", "account_id": account_id,
            "messages": [{name: message.get(name) for name in _INBOX_FIELDS}]}


def report_delivery(job: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """What the poller stores for one job's final status, like `inbox_delivery`."""
    return {"code": "00", "account_id": account_id,
            "jobs": [{name: job.get(name) for name in _REPORT_FIELDS}]}


def delivery_body(payload: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a polled delivery: the intake keys deliveries by their body's
    hash, so polling the same message (or status) again stores nothing new."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def inbound_id(sender: str, at: str, text: str) -> str:
    """The provider id of an inbox message, which has none: the same (sender, datetime,
    message) is the same message. Two identical texts from one number within the same second
    are one message."""
    digest = hashlib.sha256(json.dumps([sender, at, text], ensure_ascii=False).encode("utf-8"))
    return "netgsm:" + digest.hexdigest()[:40]


def _status_number(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def parse_webhook(payload: Mapping[str, Any], *, now: datetime | None = None
                  ) -> list[WebhookEvent]:
    """The events of a polled delivery, or of a whole inbox or report answer: an inbox message
    is an `InboundEvent` (text), a job with status 1 a ``delivered`` `StatusEvent`, one of
    `FAILED_STATUSES` a ``failed`` one; other statuses are nothing yet. ``account_id``: the
    payload's own (set by the poller) or, for an inbound message, its ``receiver``. ValueError
    for anything else."""
    if not isinstance(payload, Mapping):
        raise ValueError("a Netgsm delivery is a JSON object")
    now = now or datetime.now(UTC)
    code = str(payload.get("code", "00")).strip()
    if code != "00":
        raise ValueError(f"a Netgsm answer with code {code!r}")
    given = payload.get("account_id")
    messages, jobs = payload.get("messages"), payload.get("jobs")
    if isinstance(messages, list):
        return [_inbound(item, given, now) for item in messages]
    if isinstance(jobs, list):
        return [event for item in jobs if (event := _status(item, given, now)) is not None]
    raise ValueError("neither inbox messages nor report jobs")


def _inbound(item: Any, account_id: Any, now: datetime) -> InboundEvent:
    if not isinstance(item, Mapping):
        raise ValueError("an inbox message is an object")
    sender, text = str(item.get("sender") or "").strip(), item.get("message")
    if not sender or not isinstance(text, str):
        raise ValueError("an inbox message needs a sender and a message")
    at = str(item.get("datetime") or "").strip()
    receiver = str(item.get("receiver") or "").strip()
    phone = _e164(sender)
    return InboundEvent(
        account_id=str(account_id) if account_id is not None else (
            national_number(receiver) or receiver),
        provider_message_id=inbound_id(sender, at, text), handle=phone or sender, phone=phone,
        sent_at=netgsm_time(at) or now, content_kind="text", body=text)


def _status(item: Any, account_id: Any, now: datetime) -> StatusEvent | None:
    if not isinstance(item, Mapping) or not str(item.get("jobid") or "").strip():
        raise ValueError("a report job needs a jobid")
    status = _status_number(item.get("status"))
    at = netgsm_time(str(item.get("deliveredDate") or "")) or now
    common = {"account_id": str(account_id or ""), "provider_message_id": str(item["jobid"]),
              "at": at}
    if status == DELIVERED_STATUS:
        return StatusEvent(status="delivered", **common)
    if status in FAILED_STATUSES:
        error = _status_number(item.get("errorCode"))
        title = f"Netgsm status {status}: {FAILED_STATUSES[status]}" + (
            f" (error {error})" if error else "")
        return StatusEvent(status="failed", error_code=f"netgsm_status_{status}",
                           error_title=title, **common)
    return None


# ---- outbound ------------------------------------------------------------------------------------

class _Refused(ValueError):
    """A message this adapter will not hand to Netgsm: ``code`` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or explain(code, "en"))
        self.code = code


def build_body(account: ChannelAccount, message: OutboundMessage) -> dict[str, Any]:
    """The ``/sms/rest/v2/send`` JSON for ``message``; _Refused (a ValueError) when it cannot
    go."""
    header = str((account.settings or {}).get("msgheader") or "").strip()
    if not header:
        raise _Refused("missing_sender")
    number = national_number(message.recipient_phone or message.recipient_handle or "")
    if number is None:
        raise _Refused("invalid_number")
    text = message.body
    if message.content_kind in ("image", "audio", "video", "document", "sticker"):
        if not message.attachment_url:
            raise _Refused("media_not_supported")
        text = f"{text}\n{message.attachment_url}" if text else message.attachment_url
    elif message.content_kind not in ("text", "interactive"):
        raise _Refused("invalid_message", f"SMS cannot send {message.content_kind!r} messages")
    if not text.strip():
        raise _Refused("invalid_message", "A text message needs a body.")
    body: dict[str, Any] = {"msgheader": header}
    if needs_turkish(text):
        body["encoding"] = "TR"
    body["iysfilter"] = "0"  # a reply in a conversation: informational, not commercial
    body["messages"] = [{"msg": text, "no": number}]
    return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def result_code(code: str) -> tuple[str, bool]:
    """Our code for a Netgsm send result code other than ``00``, and whether it is temporary."""
    return _SEND_CODES.get(code, ("netgsm_error", False))


def _send_result(response: httpx.Response) -> SendResult:
    data = _json(response)
    code = str(data.get("code") or "").strip() if isinstance(data, dict) else ""
    if response.status_code >= 500:
        return TemporaryFailure(reason=f"HTTP {response.status_code}" + (
            f" (code {code})" if code else ""), retry_after_seconds=SERVER_ERROR_RETRY_SECONDS)
    if not code:
        if response.is_success:  # accepted, perhaps, but we cannot know which job it is
            return PermanentFailure(code="delivery_unknown", message=explain(
                "delivery_unknown", "en") + f" (HTTP {response.status_code}, no Netgsm code)")
        return PermanentFailure(code="unexpected_answer", message=explain(
            "unexpected_answer", "en") + f" (HTTP {response.status_code})")
    if code == "00":
        jobid = str(data.get("jobid") or "").strip()
        if jobid:
            return Sent(provider_message_id=jobid)
        return PermanentFailure(code="delivery_unknown", message=explain(
            "delivery_unknown", "en") + " (the answer had no jobid)")
    ours, temporary = result_code(code)
    description = str(data.get("description") or "").strip()
    if temporary:
        return TemporaryFailure(reason=f"Netgsm {code}: {description or explain(ours, 'en')}",
                                retry_after_seconds=LIMIT_RETRY_SECONDS)
    message = explain(ours, "en") + f" (Netgsm code {code}" + (
        f": {description})" if description else ")")
    return PermanentFailure(code=ours, message=message)


class PollFailed(Exception):
    """An inbox or report query Netgsm did not answer with data (or "nothing found")."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class _Where:
    base: str
    auth: tuple[str, str]


# ---- the adapter ---------------------------------------------------------------------------------

class NetgsmAdapter(PooledHttp):
    kind = "sms_netgsm"
    provider_name = "Netgsm"

    def explain(self, code: str, language: str) -> str:
        return explain(code, language)

    @staticmethod
    def _where(account: ChannelAccount) -> _Where | str:
        """The API base and basic auth, or the error code why there are none."""
        base = api_base(account, API_BASE_URL)
        if base is None:
            return "invalid_settings"
        credentials = account.credentials or {}
        usercode = str(credentials.get("usercode") or "").strip()
        password = str(credentials.get("password") or "")
        if not usercode or not password:
            return "missing_credentials"
        return _Where(base, (usercode, password))

    # ---- inbound ------------------------------------------------------------------------------

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    async def fetch_inbox(self, account: ChannelAccount, start: datetime, stop: datetime
                          ) -> list[dict[str, Any]]:
        """The SMS customers sent between ``start`` and ``stop`` (Netgsm's messages, as
        given). With a window nothing is consumed: the same message comes back while the window
        covers it. PollFailed when Netgsm does not answer with messages or "none" (40)."""
        data = await self._poll(account, "GET", INBOX_PATH, params={
            "startdate": inbox_time(start), "stopdate": inbox_time(stop)}, empty="40")
        messages = data.get("messages")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    async def fetch_reports(self, account: ChannelAccount, jobids: list[str], start: datetime,
                            stop: datetime) -> list[dict[str, Any]]:
        """What became of the jobs ``jobids`` (at most `REPORT_PAGE`), sent between ``start``
        and ``stop``: Netgsm's jobs, as given. PollFailed when Netgsm does not answer with jobs
        or "no records" (60); 80 is its limit of 10 report queries a minute."""
        if not jobids:
            return []
        data = await self._poll(account, "POST", REPORT_PATH, json={
            "jobids": list(jobids[:REPORT_PAGE]), "startdate": report_time(start),
            "stopdate": report_time(stop), "pagenumber": 0, "pagesize": REPORT_PAGE},
            empty="60")
        jobs = data.get("jobs")
        return [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []

    async def _poll(self, account: ChannelAccount, method: str, path: str, *, empty: str,
                    **options: Any) -> dict[str, Any]:
        where = self._where(account)
        if isinstance(where, str):
            raise PollFailed(where, explain(where, "en"))
        try:
            response = await self._http().request(method, where.base + path, auth=where.auth,
                                                  **options)
        except httpx.TransportError as exc:
            raise PollFailed("unreachable", type(exc).__name__) from exc
        data = _json(response)
        if response.status_code >= 500:
            raise PollFailed("provider_error", f"HTTP {response.status_code}")
        code = str(data.get("code") or "").strip() if isinstance(data, dict) else ""
        if code == empty:
            return {}
        if code != "00":
            description = str(data.get("description") or "") if isinstance(data, dict) else ""
            raise PollFailed(code or "unexpected_answer",
                             description or f"HTTP {response.status_code}")
        return data

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        """POST ``/sms/rest/v2/send``: Sent(the job id), or why not (see `result_code`)."""
        try:
            body = build_body(account, message)
        except _Refused as exc:
            return PermanentFailure(code=exc.code, message=str(exc))
        where = self._where(account)
        if isinstance(where, str):
            return PermanentFailure(code=where, message=explain(where, "en"))
        try:
            response = await self._http().post(where.base + SEND_PATH, json=body,
                                               auth=where.auth)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            # The request never reached Netgsm whole: nothing can have been sent.
            return TemporaryFailure(reason=f"Netgsm unreachable: {type(exc).__name__}",
                                    retry_after_seconds=SERVER_ERROR_RETRY_SECONDS)
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: retrying might send twice (decision 0004).
            return PermanentFailure(code="delivery_unknown", message=explain(
                "delivery_unknown", "en") + f" ({type(exc).__name__})")
        return _send_result(response)

    # ---- connection -------------------------------------------------------------------------

    async def check_connection(self, account: ChannelAccount) -> ConnectionCheck:
        """GET the account's sender names (``/sms/rest/v2/msgheader``): whether the user code
        and password work, the names found, and whether the channel's ``msgheader`` is one."""
        where = self._where(account)
        if isinstance(where, str):
            return ConnectionCheck(ok=False, error_code=where)
        try:
            response = await self._http().get(where.base + MSGHEADER_PATH, auth=where.auth)
        except httpx.TransportError as exc:
            return ConnectionCheck(ok=False, detail=type(exc).__name__,
                                   error_code="unreachable")
        if response.status_code >= 500:
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="provider_error")
        data = _json(response)
        if not isinstance(data, dict) or not str(data.get("code") or "").strip():
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="unexpected_answer")
        code = str(data["code"]).strip()
        if code != "00":
            ours = "invalid_credentials" if code == "30" else (
                "provider_error" if code in ("100", "101") else "unexpected_answer")
            return ConnectionCheck(ok=False, detail=f"Netgsm code {code}: " + str(
                data.get("description") or ""), error_code=ours)
        names = data.get("msgheaders")
        if not isinstance(names, list):
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        names = [str(name) for name in names]
        listed = ", ".join(names) or "-"
        header = str((account.settings or {}).get("msgheader") or "").strip()
        if not header:
            return ConnectionCheck(ok=False, detail=f"Sender names: {listed}",
                                   error_code="missing_sender")
        if header not in names:
            return ConnectionCheck(ok=False, detail=f"{header!r} is not among the account's "
                                   f"sender names: {listed}",
                                   error_code="unknown_sender_header")
        return ConnectionCheck(ok=True, detail=f"Sender names: {listed}")
