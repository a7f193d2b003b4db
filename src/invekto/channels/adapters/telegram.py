"""Telegram (``telegram``) through the Bot API.

Channel setup: ``credentials["bot_token"]`` is the token BotFather gave (``<bot id>:<secret>``);
``credentials["webhook_token"]`` is the secret registered with ``setWebhook`` (``connect``) and
sent back by Telegram in ``X-Telegram-Bot-Api-Secret-Token`` on every delivery.
``settings["api_base_url"]`` defaults to https://api.telegram.org (a self-hosted Bot API server
or the simulator otherwise): methods are ``{base}/bot{token}/{method}``, files
``{base}/file/bot{token}/{file_path}``.

``external_id`` (the bot's id) is optional and only used by ``check_connection`` to see that the
token is the expected bot's. An Update does not name the bot it was sent to, so every event this
adapter parses has ``account_id == ""``: the intake's "event for another account" check must not
apply to Telegram (or ``external_id`` be left empty).

The token is part of every URL: it never appears in an error text, a log line or a result of
this module (``_redact``).

Identifiers: the customer's handle is the private chat's id; a message's provider id is
``"{chat id}:{message_id}"`` (message ids are unique per chat only), an edit's
``"{chat id}:{message_id}:edit:{edit_date}"``, a button tap's ``"callback:{callback_query id}"``.

Wire format: /work/shared/reference/providers/telegram.md (core.telegram.org/bots/api).
"""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import UTC, datetime
from typing import Any

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
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.http import MediaUnavailable, PooledHttp, api_base

__all__ = [
    "ALLOWED_UPDATES",
    "API_BASE_URL",
    "TelegramAdapter",
    "build_request",
    "explain",
    "parse_webhook",
]

API_BASE_URL = "https://api.telegram.org"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 100
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_START = re.compile(r"^/start(?:@\w+)?(?:\s+(\S+))?\s*$")
# Our content kind → (method, its file field) when sending a file.
_MEDIA_METHODS = {"image": ("sendPhoto", "photo"), "document": ("sendDocument", "document"),
                  "video": ("sendVideo", "video"), "audio": ("sendAudio", "audio"),
                  "voice": ("sendVoice", "voice")}
# sendAudio plays MP3 and M4A only; other audio (a browser's webm recording) goes as a document.
_PLAYABLE_AUDIO = frozenset({"audio/mpeg", "audio/mp3", "audio/mp4", "audio/x-m4a", "audio/m4a",
                             "audio/aac"})


# ---- human explanations of error codes, for the UI --------------------------------------------

_EXPLANATIONS: dict[str, tuple[str, str]] = {  # code → (English, Turkish)
    "blocked": ("The customer has blocked the bot; Telegram delivers nothing to them until they "
                "start it again.",
                "Müşteri botu engellemiş; yeniden başlatana kadar Telegram ona hiçbir mesaj "
                "iletmez."),
    "user_deactivated": ("The customer's Telegram account has been deleted.",
                         "Müşterinin Telegram hesabı silinmiş."),
    "forbidden": ("Telegram does not allow the bot to write to this chat.",
                  "Telegram botun bu sohbete yazmasına izin vermiyor."),
    "chat_not_found": ("Telegram does not know this chat; the customer may never have started "
                       "the bot.",
                       "Telegram bu sohbeti tanımıyor; müşteri botu hiç başlatmamış olabilir."),
    "invalid_token": ("The Telegram bot token is invalid or was revoked; an admin must enter a "
                      "new token from BotFather.",
                      "Telegram bot anahtarı geçersiz ya da iptal edilmiş; bir yöneticinin "
                      "BotFather'dan aldığı yeni anahtarı girmesi gerekiyor."),
    "rate_limited": ("Telegram's sending rate limit was reached; the message will be tried "
                     "again shortly.",
                     "Telegram gönderim hızı sınırına ulaşıldı; mesaj birazdan yeniden "
                     "denenecek."),
    "text_too_long": ("The text is longer than Telegram accepts (4,096 characters, 1,024 for a "
                      "file's caption); shorten it or split it into several messages.",
                      "Metin Telegram için çok uzun (4.096 karakter, dosya açıklaması için "
                      "1.024); kısaltın ya da birkaç mesaja bölün."),
    "file_too_large": ("The file is larger than Telegram lets a bot download (20 MB).",
                       "Dosya, Telegram'ın bir botun indirmesine izin verdiği boyuttan (20 MB) "
                       "büyük."),
    "bad_request": ("Telegram rejected the request as invalid.",
                    "Telegram isteği geçersiz buldu."),
    "delivery_unknown": ("The connection broke after the message was handed over, so it may or "
                         "may not have been sent; check before sending again.",
                         "Mesaj iletildikten sonra bağlantı koptu; gönderilmiş olabilir. "
                         "Yeniden göndermeden önce kontrol edin."),
    "missing_credentials": ("The channel has no Telegram bot token; an admin must enter it.",
                            "Kanalda Telegram bot anahtarı yok; bir yöneticinin girmesi "
                            "gerekiyor."),
    "invalid_settings": ("The channel's Telegram API address is not valid; an admin must fix "
                         "the channel settings.",
                         "Kanalın Telegram API adresi geçersiz; bir yöneticinin kanal "
                         "ayarlarını düzeltmesi gerekiyor."),
    "invalid_message": ("This message cannot be sent on Telegram as it is.",
                        "Bu mesaj bu haliyle Telegram üzerinden gönderilemez."),
    "invalid_secret": ("The webhook secret may only use letters, digits, '_' and '-' (at most "
                       "256).",
                       "Webhook gizli anahtarı yalnızca harf, rakam, '_' ve '-' içerebilir "
                       "(en fazla 256)."),
    # What a connection check or a webhook registration found.
    "connected": ("The connection works.", "Bağlantı çalışıyor."),
    "unreachable": ("Telegram could not be reached at the channel's API address; check the "
                    "address and this server's internet connection.",
                    "Kanalın API adresinden Telegram'a ulaşılamadı; adresi ve bu sunucunun "
                    "internet bağlantısını kontrol edin."),
    "provider_error": ("Telegram answered with a server error; try again in a few minutes.",
                       "Telegram bir sunucu hatasıyla yanıt verdi; birkaç dakika sonra yeniden "
                       "deneyin."),
    "unexpected_answer": ("The answer from the channel's API address was not Telegram's; check "
                          "the address.",
                          "Kanalın API adresinden gelen yanıt Telegram'ın yanıtı değil; adresi "
                          "kontrol edin."),
    "account_mismatch": ("The token belongs to another bot than the one entered; check the bot "
                         "ID and the token.",
                         "Anahtar, girilen bottan başka bir bota ait; bot kimliğini ve anahtarı "
                         "kontrol edin."),
    "refused": ("Telegram refused the request; the details below say why.",
                "Telegram isteği reddetti; nedeni aşağıdaki ayrıntılarda."),
}
_GENERIC = ("Telegram could not deliver the message.", "Telegram mesajı iletemedi.")


def explain(code: str, language: str) -> str:
    """A short sentence for people about one of this module's codes, in Turkish (``tr``) or
    English (anything else); unknown codes get a generic sentence."""
    english, turkish = _EXPLANATIONS.get(str(code).strip(), _GENERIC)
    return turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english


def _redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


# ---- webhooks ---------------------------------------------------------------------------------

def parse_webhook(update: dict[str, Any], *, now: datetime | None = None
                  ) -> list[WebhookEvent]:
    """The customer event in one Telegram Update (one per delivery).

    ``message`` and ``edited_message`` of private chats are inbound events (groups and channels
    are ignored); an edit is a message of its own, marked ``edited`` in its payload and timed at
    its ``edit_date``. ``callback_query`` (an inline button tapped) is an ``interactive`` event
    with the button's text; it carries no time of its own, so it is ``now``. Other updates give
    nothing. A body that is not an Update is a ValueError."""
    if not isinstance(update, dict) or not _is_int(update.get("update_id")):
        raise ValueError("not a Telegram Update (no update_id)")
    if isinstance(update.get("message"), dict):
        return _message(update["message"], edited=False)
    if isinstance(update.get("edited_message"), dict):
        return _message(update["edited_message"], edited=True)
    if isinstance(update.get("callback_query"), dict):
        return _callback(update["callback_query"], now or datetime.now(UTC))
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _moment(seconds: Any) -> datetime:
    if not _is_int(seconds):
        raise ValueError("Telegram message without a date")
    return datetime.fromtimestamp(seconds, UTC)


def _name(user: Any) -> str | None:
    if not isinstance(user, dict):
        return None
    name = " ".join(str(user[key]).strip() for key in ("first_name", "last_name")
                    if user.get(key))
    return name or None


def _file(obj: dict[str, Any], mime_type: str | None = None) -> MediaRef:
    file_id = obj.get("file_id")
    if not file_id:
        raise ValueError("Telegram file without a file_id")
    return MediaRef(media_id=str(file_id), mime_type=obj.get("mime_type") or mime_type,
                    filename=obj.get("file_name") or None)


def _message(msg: dict[str, Any], *, edited: bool) -> list[WebhookEvent]:
    chat = msg.get("chat")
    if not isinstance(chat, dict) or not _is_int(chat.get("id")):
        raise ValueError("Telegram message without a chat")
    if chat.get("type") != "private":
        return []  # groups, supergroups, channels: not conversations with a customer
    sender = msg.get("from") if isinstance(msg.get("from"), dict) else {}
    if sender.get("is_bot"):
        return []
    if not _is_int(msg.get("message_id")):
        raise ValueError("Telegram message without a message_id")
    chat_id, message_id = chat["id"], msg["message_id"]
    provider_id = f"{chat_id}:{message_id}"
    sent_at = _moment(msg.get("date"))
    payload: dict[str, Any] = {}
    if edited:
        edit_date = msg.get("edit_date") if _is_int(msg.get("edit_date")) else msg.get("date")
        provider_id = f"{provider_id}:edit:{edit_date}"
        sent_at = _moment(edit_date)
        payload.update({"edited": True, "message_id": message_id})
    reply = msg.get("reply_to_message")
    if isinstance(reply, dict) and _is_int(reply.get("message_id")):
        payload["context"] = {"message_id": f"{chat_id}:{reply['message_id']}"}
    kind, body, media, phone = _content(msg, sender, payload)
    return [InboundEvent(
        account_id="", provider_message_id=provider_id, handle=str(chat_id), sent_at=sent_at,
        content_kind=kind, body=body, phone=phone,
        contact_name=_name(sender) or _name(chat), media=media, payload=payload)]


def _content(msg: dict[str, Any], sender: dict[str, Any], payload: dict[str, Any]
             ) -> tuple[str, str, MediaRef | None, str | None]:
    """(content kind, body, media, phone) of a message; adds what it knows to ``payload``."""
    caption = str(msg.get("caption") or "")
    if isinstance(msg.get("text"), str):
        text = msg["text"]
        start = _START.match(text)
        if start:
            payload["start"] = start.group(1) or ""
        return "text", text, None, None
    photos = [p for p in msg.get("photo") or [] if isinstance(p, dict) and p.get("file_id")]
    if photos:
        largest = max(enumerate(photos), key=lambda item: (
            int(item[1].get("width") or 0) * int(item[1].get("height") or 0),
            int(item[1].get("file_size") or 0), item[0]))[1]
        return "image", caption, _file(largest), None
    if isinstance(msg.get("voice"), dict):
        payload["voice"] = True
        return "audio", caption, _file(msg["voice"], "audio/ogg"), None
    if isinstance(msg.get("audio"), dict):
        audio = msg["audio"]
        payload.update({key: audio[key] for key in ("title", "performer") if audio.get(key)})
        return "audio", caption, _file(audio), None
    if isinstance(msg.get("animation"), dict):  # a GIF (it comes with a ``document`` too)
        payload["animation"] = True
        return "video", caption, _file(msg["animation"], "video/mp4"), None
    if isinstance(msg.get("video"), dict):
        return "video", caption, _file(msg["video"], "video/mp4"), None
    if isinstance(msg.get("video_note"), dict):
        payload["video_note"] = True
        return "video", caption, _file(msg["video_note"], "video/mp4"), None
    if isinstance(msg.get("document"), dict):
        return "document", caption, _file(msg["document"]), None
    if isinstance(msg.get("sticker"), dict):
        sticker = msg["sticker"]
        if sticker.get("emoji"):
            payload["emoji"] = sticker["emoji"]
        mime = ("application/x-tgsticker" if sticker.get("is_animated")
                else "video/webm" if sticker.get("is_video") else "image/webp")
        return "sticker", "", _file(sticker, mime), None
    if isinstance(msg.get("location"), dict):
        location = msg["location"]
        payload.update({"latitude": location.get("latitude"),
                        "longitude": location.get("longitude")})
        venue = msg.get("venue")
        if isinstance(venue, dict):
            payload.update({key: venue[key] for key in ("title", "address") if venue.get(key)})
        return "location", "", None, None
    if isinstance(msg.get("contact"), dict):
        contact = msg["contact"]
        payload.update({key: contact[key] for key in
                        ("phone_number", "first_name", "last_name", "user_id")
                        if contact.get(key) not in (None, "")})
        phone = None
        digits = re.sub(r"\D", "", str(contact.get("phone_number") or ""))
        if digits and contact.get("user_id") is not None and contact.get("user_id") == sender.get(
                "id"):
            phone = "+" + digits  # the customer shared their own number
        return "contact", "", None, phone
    known = ("poll", "dice", "game", "story", "invoice", "giveaway", "paid_media")
    payload["type"] = next((key for key in known if key in msg), "unknown")
    return "unsupported", caption, None, None


def _callback(query: dict[str, Any], now: datetime) -> list[WebhookEvent]:
    query_id = str(query.get("id") or "")
    sender = query.get("from") if isinstance(query.get("from"), dict) else {}
    if not query_id or not _is_int(sender.get("id")):
        raise ValueError("Telegram callback query without an id or a sender")
    message = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    if chat and chat.get("type") != "private":
        return []
    data = str(query.get("data") or "")
    title = next((str(button.get("text") or "")
                  for row in ((message.get("reply_markup") or {}).get("inline_keyboard") or [])
                  if isinstance(row, list)
                  for button in row
                  if isinstance(button, dict) and button.get("callback_data") == data), "")
    handle = str(chat["id"]) if _is_int(chat.get("id")) else str(sender["id"])
    return [InboundEvent(
        account_id="", provider_message_id=f"callback:{query_id}", handle=handle, sent_at=now,
        content_kind="interactive", body=title or data, contact_name=_name(sender),
        payload={"type": "callback", "id": data, "callback_query_id": query_id})]


# ---- outbound: building requests --------------------------------------------------------------

class TextTooLong(ValueError):
    pass


def _chat_id(handle: str) -> int | str:
    """Telegram's chat id: numeric for a user's private chat (as the documented bodies)."""
    return int(handle) if re.fullmatch(r"-?\d+", handle) else handle


def _reply_parameters(reply_to: Any) -> dict[str, int] | None:
    """``reply_to`` is our provider id of the message (``chat:message_id[...]``) or Telegram's
    message id."""
    if reply_to in (None, ""):
        return None
    text = str(reply_to)
    part = text.split(":")[1] if ":" in text else text
    if not re.fullmatch(r"\d+", part):
        raise ValueError(f"cannot reply to {text!r} on Telegram")
    return {"message_id": int(part)}


def _keyboard(choices: Any) -> dict[str, Any] | None:
    """Provider-neutral ``choices`` (``inbox.service.checked_choices``) as an inline keyboard:
    one button a row, each carrying the choice's id as ``callback_data``."""
    if not choices:
        return None
    if not isinstance(choices, dict):
        raise ValueError("malformed choices")
    if choices.get("type") == "buttons":
        items = list(choices.get("buttons") or [])
    elif choices.get("type") == "list":
        items = [row for section in choices.get("sections") or []
                 for row in (section.get("rows") or [])]
    else:
        raise ValueError(f"unknown choices type {choices.get('type')!r}")
    if not items or len(items) > MAX_BUTTONS:
        raise ValueError(f"Telegram shows 1 to {MAX_BUTTONS} buttons")
    rows = []
    for item in items:
        data = str(item.get("id") or "")
        if not data or len(data.encode()) > MAX_CALLBACK_DATA:
            raise ValueError(f"a button's id must be 1 to {MAX_CALLBACK_DATA} bytes: {data!r}")
        rows.append([{"text": str(item.get("title") or data), "callback_data": data}])
    return {"inline_keyboard": rows}


def _media_method(message: OutboundMessage) -> tuple[str, str]:
    kind = message.content_kind
    if kind == "audio":
        mime = (message.attachment.mime_type if message.attachment else "").split(";")[0]
        mime = mime.strip().lower()
        if message.payload.get("voice") is True or mime in ("audio/ogg", "audio/opus"):
            return _MEDIA_METHODS["voice"]
        if message.attachment is not None and mime not in _PLAYABLE_AUDIO:
            return _MEDIA_METHODS["document"]
    if kind not in _MEDIA_METHODS:
        raise ValueError(f"Telegram cannot send {kind!r} messages")
    return _MEDIA_METHODS[kind]


def build_request(message: OutboundMessage) -> tuple[str, dict[str, Any],
                                                     tuple[str, Any] | None]:
    """(method, fields, file) for ``message``: ``file`` is (field, OutboundFile) when the bytes
    are uploaded (multipart), None when the fields are the whole JSON body.

    Text and ``interactive`` messages are ``sendMessage`` (``payload["choices"]`` as an inline
    keyboard); files are ``sendPhoto``/``sendDocument``/``sendVideo``/``sendAudio`` and voice
    notes (OGG) ``sendVoice``, from the agent's file, a ``payload["file_id"]`` or an
    ``attachment_url``, the body being the caption. ``payload["reply_to"]`` quotes a message.
    ValueError (TextTooLong over Telegram's limits) for what Telegram would refuse."""
    payload = message.payload or {}
    if not message.recipient_handle:
        raise ValueError("The message has no recipient.")
    fields: dict[str, Any] = {"chat_id": _chat_id(message.recipient_handle)}
    file = None
    if message.content_kind in ("text", "interactive"):
        if not message.body:
            raise ValueError("A text message needs a body.")
        if len(message.body) > MAX_TEXT:
            raise TextTooLong(f"{len(message.body)} characters; Telegram accepts {MAX_TEXT}")
        method = "sendMessage"
        fields["text"] = message.body
    else:
        method, field_name = _media_method(message)
        if message.attachment is not None:
            file = (field_name, message.attachment)
        elif payload.get("file_id"):
            fields[field_name] = str(payload["file_id"])
        elif message.attachment_url:
            fields[field_name] = message.attachment_url
        else:
            raise ValueError(f"A {message.content_kind} message needs a file.")
        if message.body:
            if len(message.body) > MAX_CAPTION:
                raise TextTooLong(f"a caption of {len(message.body)} characters; Telegram "
                                  f"accepts {MAX_CAPTION}")
            fields["caption"] = message.body
        if _is_int(payload.get("duration")) and method in ("sendVoice", "sendAudio",
                                                           "sendVideo"):
            fields["duration"] = payload["duration"]
    keyboard = _keyboard(payload.get("choices"))
    if keyboard:
        fields["reply_markup"] = keyboard
    reply = _reply_parameters(payload.get("reply_to"))
    if reply:
        fields["reply_parameters"] = reply
    return method, fields, file


# ---- responses --------------------------------------------------------------------------------

def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_code(error_code_: int | None, description: str) -> str:
    """Our code for a Telegram error (its ``error_code`` and ``description``)."""
    text = description.lower()
    if error_code_ == 429:
        return "rate_limited"
    if error_code_ in (401, 404):
        return "invalid_token"
    if error_code_ == 403:
        if "blocked" in text:
            return "blocked"
        if "deactivated" in text:
            return "user_deactivated"
        return "forbidden"
    if error_code_ == 400:
        if "chat not found" in text:
            return "chat_not_found"
        if "too long" in text:
            return "text_too_long"
        if "file is too big" in text:
            return "file_too_large"
        return "bad_request"
    return f"http_{error_code_}"


def _send_result(response: httpx.Response, chat_id: Any, token: str) -> SendResult:
    data = _json(response)
    if not isinstance(data, dict) or "ok" not in data:
        if response.status_code == 429 or response.status_code >= 500:
            return TemporaryFailure(reason=f"HTTP {response.status_code}")
        return PermanentFailure(code=f"http_{response.status_code}",
                                message=explain("", "en") + f" (HTTP {response.status_code})")
    if data.get("ok") is True:
        result = data.get("result")
        if isinstance(result, dict) and _is_int(result.get("message_id")):
            return Sent(provider_message_id=f"{chat_id}:{result['message_id']}")
        return PermanentFailure(code="delivery_unknown", message=explain(
            "delivery_unknown", "en") + " (the answer had no message id)")
    code = data.get("error_code") if _is_int(data.get("error_code")) else response.status_code
    description = _redact(str(data.get("description") or ""), token)
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    if code == 429 or code >= 500:
        retry_after = parameters.get("retry_after")
        return TemporaryFailure(
            reason=f"{code}: {description}",
            retry_after_seconds=float(retry_after) if _is_int(retry_after) else None)
    key = error_code(code, description)
    if key in ("bad_request",) or key.startswith("http_"):
        return PermanentFailure(code=key, message=description or explain(key, "en"))
    return PermanentFailure(code=key, message=explain(key, "en"))


# ---- the adapter ------------------------------------------------------------------------------

class _NoToken(Exception):
    pass


class TelegramAdapter(PooledHttp):
    kind = "telegram"

    def explain(self, code: str, language: str) -> str:
        return explain(code, language)

    # ---- addresses ----------------------------------------------------------------------------

    @staticmethod
    def _base(account: ChannelAccount) -> str | None:
        return api_base(account, API_BASE_URL)

    @staticmethod
    def _token(account: ChannelAccount) -> str:
        token = str((account.credentials or {}).get("bot_token") or "").strip()
        if not token:
            raise _NoToken
        return token

    def _method_url(self, account: ChannelAccount, method: str) -> tuple[str, str] | str:
        """(url, token) of a Bot API method, or the error code why there is none."""
        base = self._base(account)
        if base is None:
            return "invalid_settings"
        try:
            token = self._token(account)
        except _NoToken:
            return "missing_credentials"
        return f"{base}/bot{token}/{method}", token

    # ---- inbound ------------------------------------------------------------------------------

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        try:
            method, fields, file = build_request(message)
        except TextTooLong as exc:
            return PermanentFailure(code="text_too_long",
                                    message=explain("text_too_long", "en") + f" ({exc})")
        except ValueError as exc:
            return PermanentFailure(code="invalid_message", message=str(exc))
        where = self._method_url(account, method)
        if isinstance(where, str):
            return PermanentFailure(code=where, message=explain(where, "en"))
        url, token = where
        try:
            if file is None:
                response = await self._http().post(url, json=fields)
            else:
                name, upload = file
                form = {key: value if isinstance(value, str) else json.dumps(value)
                        for key, value in fields.items()}
                response = await self._http().post(
                    url, data=form, files={name: (upload.filename, upload.data,
                                                  upload.mime_type)})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            # The request never reached Telegram whole: nothing can have been sent.
            return TemporaryFailure(reason=f"Telegram unreachable: {type(exc).__name__}")
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: retrying might send twice (decision 0004).
            return PermanentFailure(code="delivery_unknown", message=explain(
                "delivery_unknown", "en") + f" ({type(exc).__name__})")
        return _send_result(response, fields["chat_id"], token)

    async def answer_callback(self, account: ChannelAccount, callback_query_id: str,
                              text: str | None = None) -> bool:
        """Tell Telegram a button tap was seen (its client shows a spinner until then); whether
        it worked. Never raises: a missed answer only leaves a spinner."""
        where = self._method_url(account, "answerCallbackQuery")
        if isinstance(where, str) or not callback_query_id:
            return False
        body: dict[str, Any] = {"callback_query_id": str(callback_query_id)}
        if text:
            body["text"] = text
        try:
            response = await self._http().post(where[0], json=body)
        except Exception:  # quietly, as documented
            return False
        data = _json(response)
        return isinstance(data, dict) and data.get("ok") is True

    # ---- media --------------------------------------------------------------------------------

    async def fetch_media(self, account: ChannelAccount, media: MediaRef) -> DownloadedMedia:
        """A customer's file: ``getFile`` names its path (valid for an hour at least), then a
        plain GET of ``/file/bot{token}/{path}``. MediaUnavailable (no token in its text)."""
        if not media.media_id:
            raise MediaUnavailable("no Telegram file id")
        where = self._method_url(account, "getFile")
        if isinstance(where, str):
            raise MediaUnavailable(where)
        url, token = where
        http = self._http()
        try:
            lookup = await http.post(url, json={"file_id": media.media_id})
        except httpx.TransportError as exc:
            raise MediaUnavailable(f"Telegram unreachable: {type(exc).__name__}",
                                   temporary=True) from None
        data = _json(lookup)
        result = data.get("result") if isinstance(data, dict) else None
        if not (isinstance(data, dict) and data.get("ok") is True and isinstance(result, dict)
                and result.get("file_path")):
            code = data.get("error_code") if isinstance(data, dict) else None
            description = _redact(str((data or {}).get("description") or "")
                                  if isinstance(data, dict) else "", token)
            key = error_code(code if _is_int(code) else lookup.status_code, description)
            status = code if _is_int(code) else lookup.status_code
            raise MediaUnavailable(
                f"getFile failed: {key}" + (f" ({description})" if description else ""),
                temporary=status == 429 or status >= 500, status_code=status)
        file_path = str(result["file_path"])
        base = url.rsplit("/bot", 1)[0]
        try:
            download = await http.get(f"{base}/file/bot{token}/{file_path}")
        except httpx.TransportError as exc:
            raise MediaUnavailable(f"Telegram unreachable: {type(exc).__name__}",
                                   temporary=True) from None
        if not download.is_success:
            raise MediaUnavailable(f"file download failed: HTTP {download.status_code}",
                                   temporary=download.status_code >= 500,
                                   status_code=download.status_code)
        name = file_path.rsplit("/", 1)[-1]
        mime_type = (media.mime_type or mimetypes.guess_type(name)[0]
                     or download.headers.get("content-type", "").split(";")[0]
                     or "application/octet-stream")
        return DownloadedMedia(data=download.content, mime_type=mime_type,
                               filename=media.filename or name or None)

    # ---- connection -------------------------------------------------------------------------

    async def _call(self, account: ChannelAccount, method: str, body: dict[str, Any] | None
                    ) -> Any:
        """The ``result`` of a Bot API method, or the ConnectionCheck saying why not."""
        where = self._method_url(account, method)
        if isinstance(where, str):
            return ConnectionCheck(ok=False, error_code=where)
        url, token = where
        try:
            response = await self._http().post(url, json=body or {})
        except httpx.TransportError as exc:
            return ConnectionCheck(ok=False, detail=type(exc).__name__,
                                   error_code="unreachable")
        data = _json(response)
        if not isinstance(data, dict) or "ok" not in data:
            if response.status_code >= 500:
                return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                       error_code="provider_error")
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="unexpected_answer")
        if data.get("ok") is not True:
            code = data.get("error_code") if _is_int(data.get("error_code")) else (
                response.status_code)
            description = _redact(str(data.get("description") or ""), token)
            key = ("provider_error" if code >= 500 else
                   "invalid_token" if code in (401, 404) else "refused")
            return ConnectionCheck(ok=False, detail=description or f"HTTP {code}",
                                   error_code=key)
        return data.get("result")

    async def check_connection(self, account: ChannelAccount) -> ConnectionCheck:
        """``getMe``: whether the token works, and the bot's ``@username · name``."""
        result = await self._call(account, "getMe", None)
        if isinstance(result, ConnectionCheck):
            return result
        if not isinstance(result, dict) or not result.get("id"):
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        if account.external_id and str(result["id"]) != str(account.external_id):
            return ConnectionCheck(ok=False, detail=f"bot {result['id']}",
                                   error_code="account_mismatch")
        parts = [f"@{result['username']}" if result.get("username") else "",
                 str(result.get("first_name") or "")]
        return ConnectionCheck(ok=True, detail=" · ".join(part for part in parts if part))

    async def connect(self, account: ChannelAccount, webhook_url: str, secret_token: str
                      ) -> ConnectionCheck:
        """Register our webhook with Telegram (``setWebhook``): ``webhook_url``, the secret it
        sends back in ``X-Telegram-Bot-Api-Secret-Token``, and the updates we read."""
        if not _SECRET_TOKEN.fullmatch(secret_token or ""):
            return ConnectionCheck(ok=False, error_code="invalid_secret")
        result = await self._call(account, "setWebhook", {
            "url": webhook_url, "secret_token": secret_token,
            "allowed_updates": list(ALLOWED_UPDATES)})
        if isinstance(result, ConnectionCheck):
            return result
        return ConnectionCheck(ok=True, detail="Webhook was set")
