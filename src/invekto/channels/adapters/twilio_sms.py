"""Twilio Programmable Messaging for SMS/MMS (``sms_twilio``).

Channel setup: ``credentials["account_sid"]`` (``AC…``) and ``credentials["auth_token"]`` (the
account's primary Auth Token: it authenticates our REST calls with HTTP basic auth and is the key
of the ``X-Twilio-Signature`` on Twilio's webhooks, see `twilio_signature`). ``external_id`` is
the Twilio number in E.164 (``+90…``): the ``From`` of our sends and the ``To`` of inbound
messages. ``settings["api_base_url"]`` defaults to https://api.twilio.com (the simulator
otherwise); ``settings["messaging_service_sid"]`` (``MG…``), when set, is sent instead of
``From``. ``settings["status_callback_url"]``, when set, is passed as ``StatusCallback`` on every
send: Twilio posts delivery reports there (same signature scheme). Without it Twilio reports
only to the number's or Messaging Service's own status callback, if one is configured in its
console; wiring it to ``/webhooks/sms_twilio/{channel_id}`` is the intake's/settings' concern.

Webhooks arrive form-encoded; the intake verifies the signature and hands `parse_webhook` the
form as a dict (``{name: value}``, a repeated name as the list of its values).

* An inbound message (no ``MessageStatus``) is one `InboundEvent`, or one per file for an MMS
  (``MediaUrl{N}``/``MediaContentType{N}``; the first keeps the ``MessageSid`` and the text, the
  others are ``"{MessageSid}#{n}"``, as Meta's attachments). Twilio sends no time: ``sent_at`` is
  when we parse it.
* A status callback (``MessageStatus``) is a `StatusEvent`: ``sent``, ``delivered``, ``read``;
  ``undelivered`` and ``failed`` are ``failed`` with ``ErrorCode`` (and ``ErrorMessage`` or
  Twilio's title for the common codes). Intermediate and unknown statuses are ignored.
* WhatsApp over Twilio (``whatsapp:+90…`` addresses) is not this channel: such an inbound
  message is refused with ValueError (the delivery keeps the error; connect WhatsApp senders as a
  WhatsApp channel). A status callback is parsed whatever its addresses (it concerns a message
  we sent); its ``account_id`` is the ``From`` as given, so the intake's account check drops a
  ``whatsapp:`` one for a channel whose ``external_id`` is set.

Outbound files: Twilio fetches MMS media itself from a public URL (``MediaUrl``); it has no
upload API. A message with ``attachment_url`` sends it; an agent's uploaded file (bytes only) is
refused with ``media_needs_public_url``, since we have no public URL to give Twilio.

Wire format: /work/shared/reference/providers/twilio_sms.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    DownloadedMedia,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    Sent,
    StatusEvent,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.http import MediaUnavailable, PooledHttp, api_base

__all__ = [
    "API_BASE_URL",
    "TwilioSmsAdapter",
    "build_form",
    "error_code",
    "explain",
    "parse_webhook",
    "signature_matches",
    "twilio_signature",
]

API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
MAX_BODY = 1600
SIGNATURE_HEADER = "X-Twilio-Signature"

# MessageStatus → ours; the others (queued, accepted, scheduled, sending, canceled,
# partially_delivered, receiving, received and whatever Twilio adds) are ignored.
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read",
             "undelivered": "failed", "failed": "failed"}
# Twilio's titles for the delivery errors most often seen in status callbacks.
_ERROR_TITLES = {
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered",
    "30008": "Unknown error",
    "21610": "Attempt to send to unsubscribed recipient",
    "63016": "Failed to send freeform message because you are outside the allowed window",
}


# ---- X-Twilio-Signature -------------------------------------------------------------------------

def _values(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def twilio_signature(auth_token: str, url: str, params: Mapping[str, Any] | None) -> str:
    """``X-Twilio-Signature`` of a request to ``url`` with the form ``params`` (a name sent
    several times as the list of its values; none for a GET): base64 of HMAC-SHA1, keyed with
    the Auth Token, over the URL followed by every name and value, names sorted and a repeated
    name's values sorted, without separators or encoding."""
    signed = url
    for name in sorted(params or {}):
        for value in sorted(_values((params or {})[name])):
            signed += name + value
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, and with its default port added or removed (Twilio may sign either)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or not parts.hostname:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


def signature_matches(auth_token: str, url: str, params: Mapping[str, Any] | None,
                      header: str | None) -> bool:
    """Whether ``header`` is the signature of the request, compared in constant time, with the
    URL as given or with its default port added or removed (as Twilio's own validator)."""
    if not header or not auth_token:
        return False
    return any(hmac.compare_digest(twilio_signature(auth_token, variant, params).encode(),
                                   header.encode())
               for variant in _port_variants(url))


# ---- human explanations of error codes, for the UI ----------------------------------------------

_EXPLANATIONS: dict[str, tuple[str, str]] = {  # code → (English, Turkish)
    "invalid_number": ("Twilio says the recipient's phone number is not valid.",
                       "Twilio, alıcının telefon numarasının geçersiz olduğunu bildirdi."),
    "unsubscribed": ("The customer replied STOP to this number, so Twilio sends them nothing "
                     "until they reply START.",
                     "Müşteri bu numaraya STOP yanıtı vermiş; START yazana kadar Twilio ona "
                     "mesaj göndermez."),
    "invalid_credentials": ("Twilio refused the Account SID or Auth Token; an admin must enter "
                            "the current ones from the Twilio console.",
                            "Twilio, Account SID ya da Auth Token'ı kabul etmedi; bir "
                            "yöneticinin Twilio konsolundaki güncel bilgileri girmesi "
                            "gerekiyor."),
    "rate_limited": ("Twilio's request limit was reached; the message will be tried again "
                     "shortly.",
                     "Twilio istek sınırına ulaşıldı; mesaj birazdan yeniden denenecek."),
    "text_too_long": ("The text is longer than Twilio accepts (1,600 characters); shorten it "
                      "or split it into several messages.",
                      "Metin Twilio için çok uzun (1.600 karakter); kısaltın ya da birkaç "
                      "mesaja bölün."),
    "media_needs_public_url": ("Twilio can only send a file it can download from a public "
                               "address; files uploaded here cannot be sent by SMS/MMS. Send a "
                               "link instead.",
                               "Twilio yalnızca herkese açık bir adresten indirebildiği "
                               "dosyaları gönderebilir; buraya yüklenen dosyalar SMS/MMS ile "
                               "gönderilemez. Bunun yerine bir bağlantı gönderin."),
    "delivery_unknown": ("The connection broke after the message was handed over, so it may or "
                         "may not have been sent; check before sending again.",
                         "Mesaj iletildikten sonra bağlantı koptu; gönderilmiş olabilir. "
                         "Yeniden göndermeden önce kontrol edin."),
    "missing_credentials": ("The channel has no Twilio Account SID or Auth Token; an admin must "
                            "enter them.",
                            "Kanalda Twilio Account SID ya da Auth Token yok; bir yöneticinin "
                            "girmesi gerekiyor."),
    "missing_sender": ("The channel has neither a Twilio number nor a Messaging Service to send "
                       "from; an admin must enter one.",
                       "Kanalda gönderim için ne bir Twilio numarası ne de bir Messaging "
                       "Service var; bir yöneticinin girmesi gerekiyor."),
    "invalid_settings": ("The channel's Twilio API address is not valid; an admin must fix the "
                         "channel settings.",
                         "Kanalın Twilio API adresi geçersiz; bir yöneticinin kanal ayarlarını "
                         "düzeltmesi gerekiyor."),
    "invalid_message": ("This message cannot be sent by SMS as it is.",
                        "Bu mesaj bu haliyle SMS ile gönderilemez."),
    "refused": ("Twilio refused the message; the details say why.",
                "Twilio mesajı reddetti; nedeni ayrıntılarda."),
    # What a connection check found.
    "connected": ("The connection works.", "Bağlantı çalışıyor."),
    "unreachable": ("Twilio could not be reached at the channel's API address; check the "
                    "address and this server's internet connection.",
                    "Kanalın API adresinden Twilio'ya ulaşılamadı; adresi ve bu sunucunun "
                    "internet bağlantısını kontrol edin."),
    "provider_error": ("Twilio answered with a server error; try again in a few minutes.",
                       "Twilio bir sunucu hatasıyla yanıt verdi; birkaç dakika sonra yeniden "
                       "deneyin."),
    "unexpected_answer": ("The answer from the channel's API address was not Twilio's; check "
                          "the address.",
                          "Kanalın API adresinden gelen yanıt Twilio'nun yanıtı değil; adresi "
                          "kontrol edin."),
    "account_inactive": ("The Twilio account is suspended or closed; its owner must reactivate "
                         "it in the Twilio console.",
                         "Twilio hesabı askıya alınmış ya da kapatılmış; sahibinin Twilio "
                         "konsolundan yeniden etkinleştirmesi gerekiyor."),
}
_GENERIC = ("Twilio could not deliver the message.", "Twilio mesajı iletemedi.")


def explain(code: str, language: str) -> str:
    """A short sentence for people about one of this module's codes, in Turkish (``tr``) or
    English (anything else); unknown codes get a generic sentence."""
    english, turkish = _EXPLANATIONS.get(str(code).strip(), _GENERIC)
    return turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english


# ---- inbound -------------------------------------------------------------------------------------

def _one(payload: Mapping[str, Any], name: str) -> str:
    """A form field's value ("" when absent; the first of a repeated one)."""
    value = payload.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return "" if value is None else str(value)


_MEDIA_KINDS = {"image": "image", "audio": "audio", "video": "video"}


def _media_kind(mime_type: str) -> str:
    return _MEDIA_KINDS.get(mime_type.split("/", 1)[0].strip().lower(), "document")


def _is_channel_address(address: str) -> bool:
    """``whatsapp:+90…``, ``messenger:…``: an address of another channel than SMS."""
    return ":" in address


def parse_webhook(payload: Mapping[str, Any], *, now: datetime | None = None
                  ) -> list[WebhookEvent]:
    """The events of one Twilio webhook's form (see the module's docstring); ValueError for a
    form that is neither an inbound message nor a status callback, or a WhatsApp one."""
    if not isinstance(payload, Mapping):
        raise ValueError("a Twilio webhook is a form")
    now = now or datetime.now(UTC)
    sid = _one(payload, "MessageSid") or _one(payload, "SmsMessageSid") or _one(payload, "SmsSid")
    if not sid:
        raise ValueError("no MessageSid: not a Twilio message webhook")
    status = _one(payload, "MessageStatus")
    if status:
        ours = _STATUSES.get(status.strip().lower())
        if ours is None:
            return []
        code = _one(payload, "ErrorCode").strip() or None
        title = _one(payload, "ErrorMessage").strip() or None
        if code and not title:
            title = _ERROR_TITLES.get(code)
        return [StatusEvent(account_id=_one(payload, "From"), provider_message_id=sid,
                            status=ours, at=now, error_code=code if ours == "failed" else None,
                            error_title=title if ours == "failed" else None)]
    if "Body" not in payload and "NumMedia" not in payload:
        raise ValueError("neither a message nor a status callback")
    sms_status = _one(payload, "SmsStatus").strip().lower()
    if sms_status and sms_status not in ("received", "receiving"):
        raise ValueError(f"an inbound message with SmsStatus {sms_status!r}")
    sender, receiver = _one(payload, "From").strip(), _one(payload, "To").strip()
    if not sender:
        raise ValueError("an inbound message without From")
    if _is_channel_address(sender) or _is_channel_address(receiver):
        raise ValueError(f"not an SMS: {sender.split(':', 1)[0]} over Twilio belongs to another "
                         "channel")
    body = _one(payload, "Body")
    count_text = _one(payload, "NumMedia").strip() or "0"
    if not count_text.isdigit():
        raise ValueError(f"NumMedia is not a number: {count_text!r}")
    contents: list[tuple[str, MediaRef | None]] = []
    for index in range(int(count_text)):
        url = _one(payload, f"MediaUrl{index}").strip()
        if not url:
            continue
        mime_type = _one(payload, f"MediaContentType{index}").strip() or None
        contents.append((_media_kind(mime_type or ""), MediaRef(url=url, mime_type=mime_type)))
    if not contents:
        contents = [("text", None)]
    return [InboundEvent(account_id=receiver, handle=sender, phone=sender, sent_at=now,
                         provider_message_id=sid if index == 0 else f"{sid}#{index + 1}",
                         content_kind=kind, body=body if index == 0 else "", media=media)
            for index, (kind, media) in enumerate(contents)]


# ---- outbound ------------------------------------------------------------------------------------

class TextTooLong(ValueError):
    pass


class MediaNeedsUrl(ValueError):
    pass


class MissingSender(ValueError):
    pass


def build_form(account: ChannelAccount, message: OutboundMessage) -> dict[str, str]:
    """The ``Messages.json`` form for ``message``. ValueError (TextTooLong, MediaNeedsUrl, or
    plain for anything else Twilio would refuse)."""
    settings = account.settings or {}
    to = (message.recipient_phone or message.recipient_handle or "").strip()
    if not to:
        raise ValueError("The message has no recipient phone number.")
    form: dict[str, str] = {"To": to}
    service = str(settings.get("messaging_service_sid") or "").strip()
    if service:
        form["MessagingServiceSid"] = service
    elif account.external_id:
        form["From"] = str(account.external_id).strip()
    else:
        raise MissingSender
    if len(message.body) > MAX_BODY:
        raise TextTooLong(f"{len(message.body)} characters; Twilio accepts {MAX_BODY}")
    if message.content_kind in ("text", "interactive"):
        if not message.body:
            raise ValueError("A text message needs a body.")
    elif message.content_kind in ("image", "audio", "video", "document", "sticker"):
        if message.attachment_url:
            form["MediaUrl"] = message.attachment_url
        elif message.attachment is not None:
            raise MediaNeedsUrl
        else:
            raise ValueError(f"A {message.content_kind} message needs a file.")
    else:
        raise ValueError(f"Twilio SMS cannot send {message.content_kind!r} messages")
    if message.body:
        form["Body"] = message.body
    # Statuses come back to the channel's own webhook, unless the channel names another address.
    callback = str(settings.get("status_callback_url") or account.webhook_url or "").strip()
    if callback:
        form["StatusCallback"] = callback
    return form


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_code(code: int | None, http_status: int) -> str:
    """Our code for a Twilio REST error (its ``code`` and the HTTP status)."""
    if code == 21211:
        return "invalid_number"
    if code == 21610:
        return "unsubscribed"
    if code == 20429 or http_status == 429:
        return "rate_limited"
    if code == 20003 or http_status == 401:
        return "invalid_credentials"
    return "refused"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _send_result(response: httpx.Response) -> SendResult:
    data = _json(response)
    if response.is_success:
        if isinstance(data, dict) and data.get("sid"):
            return Sent(provider_message_id=str(data["sid"]))
        return PermanentFailure(code="delivery_unknown", message=explain(
            "delivery_unknown", "en") + " (the answer had no message sid)")
    error = data if isinstance(data, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    text = str(error.get("message") or "")
    key = error_code(code, response.status_code)
    if key == "rate_limited":
        return TemporaryFailure(reason=f"{code or response.status_code}: {text or 'HTTP 429'}",
                                retry_after_seconds=_retry_after(response))
    if response.status_code >= 500:
        return TemporaryFailure(reason=f"HTTP {response.status_code}"
                                + (f": {text}" if text else ""))
    if key == "refused":
        detail = f"{code}: {text}" if code and text else text or f"HTTP {response.status_code}"
        return PermanentFailure(code=f"twilio_{code}" if code else f"http_{response.status_code}",
                                message=detail)
    return PermanentFailure(code=key, message=explain(key, "en"))


# ---- the adapter ---------------------------------------------------------------------------------

class TwilioSmsAdapter(PooledHttp):
    kind = "sms_twilio"
    provider_name = "Twilio"

    def explain(self, code: str, language: str) -> str:
        return explain(code, language)

    # ---- addresses ----------------------------------------------------------------------------

    @staticmethod
    def _base(account: ChannelAccount) -> str | None:
        return api_base(account, API_BASE_URL)

    @staticmethod
    def _auth(account: ChannelAccount) -> tuple[str, str] | None:
        credentials = account.credentials or {}
        sid = str(credentials.get("account_sid") or "").strip()
        token = str(credentials.get("auth_token") or "").strip()
        return (sid, token) if sid and token else None

    def _account_url(self, account: ChannelAccount, suffix: str
                     ) -> tuple[str, tuple[str, str]] | str:
        """(url, basic auth) of ``/2010-04-01/Accounts/{sid}{suffix}``, or the error code why
        there is none."""
        base = self._base(account)
        if base is None:
            return "invalid_settings"
        auth = self._auth(account)
        if auth is None:
            return "missing_credentials"
        return f"{base}/{API_VERSION}/Accounts/{auth[0]}{suffix}", auth

    # ---- inbound ------------------------------------------------------------------------------

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        """POST ``Messages.json``: Sent(the message's sid), or why not (see `error_code`)."""
        try:
            form = build_form(account, message)
        except TextTooLong as exc:
            return PermanentFailure(code="text_too_long",
                                    message=explain("text_too_long", "en") + f" ({exc})")
        except MediaNeedsUrl:
            return PermanentFailure(code="media_needs_public_url",
                                    message=explain("media_needs_public_url", "en"))
        except MissingSender:
            return PermanentFailure(code="missing_sender", message=explain("missing_sender",
                                                                           "en"))
        except ValueError as exc:
            return PermanentFailure(code="invalid_message", message=str(exc))
        where = self._account_url(account, "/Messages.json")
        if isinstance(where, str):
            return PermanentFailure(code=where, message=explain(where, "en"))
        url, auth = where
        try:
            response = await self._http().post(url, data=form, auth=auth)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            # The request never reached Twilio whole: nothing can have been sent.
            return TemporaryFailure(reason=f"Twilio unreachable: {type(exc).__name__}")
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: retrying might send twice (decision 0004).
            return PermanentFailure(code="delivery_unknown", message=explain(
                "delivery_unknown", "en") + f" ({type(exc).__name__})")
        return _send_result(response)

    # ---- media --------------------------------------------------------------------------------

    async def fetch_media(self, account: ChannelAccount, media: MediaRef) -> DownloadedMedia:
        """A customer's MMS file: GET its ``MediaUrl`` (with basic auth when it is on the
        channel's API host, as accounts may require), following Twilio's redirect to storage
        (httpx drops the credentials on the way to another host). MediaUnavailable."""
        url = media.url or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MediaUnavailable("no Twilio media URL")
        base = self._base(account)
        auth = self._auth(account)
        use_auth = auth if base and parts.netloc == urlsplit(base).netloc else None
        response = await self._download(url, auth=use_auth)
        mime_type = (media.mime_type
                     or response.headers.get("content-type", "").split(";")[0].strip()
                     or mimetypes.guess_type(parts.path)[0] or "application/octet-stream")
        return DownloadedMedia(data=response.content, mime_type=mime_type,
                               filename=media.filename)

    # ---- connection -------------------------------------------------------------------------

    async def check_connection(self, account: ChannelAccount) -> ConnectionCheck:
        """GET the Account resource: whether the SID and token work, and its
        ``friendly_name · status``."""
        where = self._account_url(account, ".json")
        if isinstance(where, str):
            return ConnectionCheck(ok=False, error_code=where)
        url, auth = where
        try:
            response = await self._http().get(url, auth=auth)
        except httpx.TransportError as exc:
            return ConnectionCheck(ok=False, detail=type(exc).__name__,
                                   error_code="unreachable")
        data = _json(response)
        if response.status_code >= 500:
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="provider_error")
        if not isinstance(data, dict):
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="unexpected_answer")
        if not response.is_success:
            code = data.get("code") if isinstance(data.get("code"), int) else None
            key = error_code(code, response.status_code)
            return ConnectionCheck(ok=False, detail=str(data.get("message") or
                                                         f"HTTP {response.status_code}"),
                                   error_code=key)
        if not data.get("sid"):
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        status = str(data.get("status") or "")
        detail = " · ".join(part for part in (str(data.get("friendly_name") or ""), status)
                            if part)
        if status and status != "active":
            return ConnectionCheck(ok=False, detail=detail, error_code="account_inactive")
        return ConnectionCheck(ok=True, detail=detail)
