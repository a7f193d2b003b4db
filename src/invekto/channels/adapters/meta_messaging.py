"""Facebook Messenger (``messenger``) and Instagram Direct (``instagram``) through Meta's Messenger
Platform. Instagram rides on the same machinery, so both share one implementation; what differs
is a `Product` (webhook ``object``, ``messaging_type`` default, text limit, allowed tags) and the
API host, which is a channel setting as for WhatsApp (`Dialect`).

Channel setup: ``external_id`` is the Page id (Messenger) or the Instagram professional account id
(Instagram): the ``entry.id`` of their webhooks. ``credentials["access_token"]`` is the Page access
token (Messenger, and Instagram connected through a Facebook Page) or the Instagram user token
(Instagram Login); ``credentials["app_secret"]`` signs the webhooks. Instagram sends to
``/me/messages`` on ``graph.facebook.com`` (the Page behind the token: the webhook's id is the
Instagram account, not the Page); with ``settings["api_base_url"] = "https://graph.instagram.com"``
(Instagram Login) it sends to ``/{external_id}/messages``.

Wire format: /work/shared/reference/providers/messenger.md and instagram.md (Meta's Messenger
Platform "Webhook Events Reference", "Send API Reference", "Common Error Codes").
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    DownloadedMedia,
    InboundEvent,
    MediaRef,
    OutboundMessage,
    PermanentFailure,
    ReceiptWatermark,
    SendResult,
    Sent,
    StatusEvent,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.whatsapp import (
    CloudApiAdapter,
    Dialect,
    MediaUnavailable,
    retry_after_seconds,
)

__all__ = [
    "INSTAGRAM",
    "INSTAGRAM_LOGIN_BASE_URL",
    "MESSENGER",
    "InstagramAdapter",
    "MessengerAdapter",
    "Product",
    "build_request",
    "explain",
    "parse_webhook",
]

INSTAGRAM_LOGIN_BASE_URL = "https://graph.instagram.com"


@dataclasses.dataclass(frozen=True)
class Product:
    """What differs between Messenger and Instagram Direct on the Messenger Platform."""

    kind: str  # our channel kind
    name: str  # for people: "Messenger", "Instagram"
    webhook_object: str  # the webhook envelope's ``object``
    messaging_type: str | None  # sent when not tagged (Instagram's documented body has none)
    max_text: int
    text_in_bytes: bool  # the limit counts UTF-8 bytes (Instagram) rather than characters
    tags: frozenset[str]  # message tags allowed outside the 24-hour window


MESSENGER = Product(
    kind="messenger", name="Messenger", webhook_object="page", messaging_type="RESPONSE",
    max_text=2000, text_in_bytes=False,
    tags=frozenset({"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE",
                    "ACCOUNT_UPDATE"}))
INSTAGRAM = Product(
    kind="instagram", name="Instagram", webhook_object="instagram", messaging_type=None,
    max_text=1000, text_in_bytes=True, tags=frozenset({"HUMAN_AGENT"}))
_PRODUCTS = {product.kind: product for product in (MESSENGER, INSTAGRAM)}

# Meta error codes that mean "not now": unknown/temporary (1, 2), app/user/page throttling
# (4, 17, 32) and the Send API rate limit (613).
TEMPORARY_CODES = frozenset({1, 2, 4, 17, 32, 613})
# Code 10 with these subcodes: sent outside the 24-hour window (Messenger, Instagram).
OUTSIDE_WINDOW_SUBCODES = frozenset({2018278, 2534022})
_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
_INBOUND_MEDIA = {"image": "image", "video": "video", "audio": "audio", "file": "document"}
MAX_QUICK_REPLIES = 13
MAX_BUTTONS = 3


# ---- human explanations of error codes, for the UI --------------------------------------------

# The table format of ``whatsapp.explain``: code → (English, Turkish); ``{product}`` is the
# product's name, placed where Turkish needs no suffix on it.
_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "outside_window": (
        "More than 24 hours have passed since the customer last wrote; {product} now only "
        "accepts a reply marked as a human agent's, within 7 days of that message.",
        "Müşterinin son mesajının üzerinden 24 saatten fazla geçti; {product} artık yalnızca "
        "insan temsilci olarak işaretlenmiş bir yanıtı, o mesajdan sonraki 7 gün içinde kabul "
        "ediyor."),
    "551": ("This person cannot be reached right now: they may have blocked the business or "
            "deactivated their account.",
            "Bu kişiye şu anda ulaşılamıyor: işletmeyi engellemiş ya da hesabını kapatmış "
            "olabilir."),
    "2018001": ("No matching {product} user was found; the customer may have written to "
                "another page or account.",
                "Eşleşen {product} kullanıcısı bulunamadı; müşteri başka bir sayfaya ya da "
                "hesaba yazmış olabilir."),
    "2018108": ("{product} does not allow messaging this person yet, for example while the app "
                "is in development mode.",
                "{product} bu kişiye mesaj gönderilmesine henüz izin vermiyor; örneğin "
                "uygulama geliştirme modunda olabilir."),
    "613": ("The {product} sending rate limit was reached; the message will be tried again "
            "shortly.",
            "{product} gönderim hızı sınırına ulaşıldı; mesaj birazdan yeniden denenecek."),
    "4": ("Too many requests from this app to {product}; the message will be tried again "
          "shortly.",
          "Bu uygulamadan {product} hizmetine çok fazla istek gönderildi; mesaj birazdan "
          "yeniden denenecek."),
    "17": ("Too many requests for this {product} account; the message will be tried again "
           "shortly.",
           "Bu {product} hesabı için çok fazla istek gönderildi; mesaj birazdan yeniden "
           "denenecek."),
    "32": ("Too many requests for this page; the message will be tried again shortly.",
           "Bu sayfa için çok fazla istek gönderildi; mesaj birazdan yeniden denenecek."),
    "1": ("Something went wrong at {product}; the message will be tried again shortly.",
          "{product} tarafında bir sorun oluştu; mesaj birazdan yeniden denenecek."),
    "2": ("{product} is temporarily unavailable; the message will be tried again shortly.",
          "{product} geçici olarak hizmet veremiyor; mesaj birazdan yeniden denenecek."),
    "10": ("The app is not allowed to send this message.",
           "Uygulamanın bu mesajı gönderme izni yok."),
    "100": ("{product} rejected the request as invalid.",
            "{product} isteği geçersiz buldu."),
    "190": ("The {product} access token has expired or is invalid; an admin must reconnect the "
            "channel.",
            "{product} erişim anahtarının süresi dolmuş ya da geçersiz; bir yöneticinin kanalı "
            "yeniden bağlaması gerekiyor."),
    "200": ("The app lacks a permission needed to send on {product}; an admin must check the "
            "app's permissions.",
            "Uygulamada {product} üzerinden gönderim için gereken bir izin eksik; bir "
            "yöneticinin uygulama izinlerini kontrol etmesi gerekiyor."),
    "text_too_long": ("The text is longer than {product} accepts; shorten it or split it into "
                      "several messages.",
                      "Metin {product} için çok uzun; kısaltın ya da birkaç mesaja bölün."),
    "delivery_unknown": ("The connection broke after the message was handed over, so it may or "
                         "may not have been sent; check before sending again.",
                         "Mesaj iletildikten sonra bağlantı koptu; gönderilmiş olabilir. "
                         "Yeniden göndermeden önce kontrol edin."),
    "missing_credentials": ("The channel has no {product} access token; an admin must "
                            "reconnect the channel.",
                            "Kanalda {product} erişim anahtarı yok; bir yöneticinin kanalı "
                            "yeniden bağlaması gerekiyor."),
    "invalid_settings": ("The channel's {product} API address is not valid; an admin must fix "
                         "the channel settings.",
                         "Kanalın {product} API adresi geçersiz; bir yöneticinin kanal "
                         "ayarlarını düzeltmesi gerekiyor."),
    "invalid_message": ("This message cannot be sent on {product} as it is.",
                        "Bu mesaj bu haliyle {product} üzerinden gönderilemez."),
    # What a connection check (``check_connection``) found.
    "connected": ("The connection works.", "Bağlantı çalışıyor."),
    "unreachable": ("{product} could not be reached at the channel's API address; check the "
                    "address and this server's internet connection.",
                    "Kanalın API adresinden {product} hizmetine ulaşılamadı; adresi ve bu "
                    "sunucunun internet bağlantısını kontrol edin."),
    "provider_error": ("{product} answered with a server error; try again in a few minutes.",
                       "{product} bir sunucu hatasıyla yanıt verdi; birkaç dakika sonra "
                       "yeniden deneyin."),
    "unexpected_answer": ("The answer from the channel's API address was not Meta's; check the "
                          "address.",
                          "Kanalın API adresinden gelen yanıt Meta'nın yanıtı değil; adresi "
                          "kontrol edin."),
    "unknown_account": ("{product} does not know this account, or the access token may not use "
                        "it; check the ID and the token.",
                        "{product} bu hesabı tanımıyor ya da erişim anahtarının bu hesaba "
                        "yetkisi yok; kimliği ve anahtarı kontrol edin."),
    "account_mismatch": ("The access token belongs to another Page than the one entered; check "
                         "the Page ID and the token.",
                         "Erişim anahtarı girilen sayfadan başka bir sayfaya ait; sayfa "
                         "kimliğini ve anahtarı kontrol edin."),
    "refused": ("{product} refused the request; the details below say why.",
                "{product} isteği reddetti; nedeni aşağıdaki ayrıntılarda."),
}
_GENERIC = ("{product} could not deliver the message.", "{product} mesajı iletemedi.")


def explain(code: str, language: str, kind: str = "messenger") -> str:
    """A short explanation of a Messenger/Instagram error code (ours, or Meta's code or subcode)
    for people, in Turkish (``tr``) or English (anything else), naming the product of ``kind``;
    unknown codes get a generic sentence."""
    english, turkish = _EXPLANATIONS.get(str(code).strip(), _GENERIC)
    sentence = turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english
    return sentence.format(product=_PRODUCTS.get(kind, MESSENGER).name)


# ---- the adapters -----------------------------------------------------------------------------

GRAPH = Dialect(api_base_url="https://graph.facebook.com", api_version="v25.0",
                number_in_path=True, auth_header="Authorization", auth_prefix="Bearer ",
                credential="access_token", rewrite_media_host=False)


class _MetaMessagingAdapter(CloudApiAdapter):
    """The Send API and Messenger Platform webhooks; the pooled httpx client (injectable
    transport) and per-channel `Dialect` settings are WhatsApp's."""

    product: Product

    @property
    def provider_name(self) -> str:  # type: ignore[override]
        return self.product.name

    # ---- inbound ------------------------------------------------------------------------------

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload, self.product)

    # ---- outbound -----------------------------------------------------------------------------

    def _sender(self, dialect: Dialect, account: ChannelAccount) -> str:
        """The path segment naming who sends: the account id, or ``me`` (the token's owner)."""
        return account.external_id if dialect.number_in_path and account.external_id else "me"

    def _fail(self, code: str, detail: str = "") -> PermanentFailure:
        return PermanentFailure(code=code,
                                message=explain(code, "en", self.product.kind) + detail)

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        dialect = self.dialect_for(account)
        base = urlsplit(str(dialect.api_base_url))
        if base.scheme not in ("http", "https") or not base.netloc:
            return self._fail("invalid_settings")
        try:
            headers = dialect.auth(account.credentials or {})
        except KeyError:
            return self._fail("missing_credentials")
        if _needs_upload(message):
            attachment_id = await self._upload(dialect, account, headers, message)
            if not isinstance(attachment_id, str):
                return attachment_id
            message = dataclasses.replace(
                message, payload={**message.payload, "attachment_id": attachment_id})
        try:
            body = build_request(message, self.product)
        except TextTooLong as exc:
            return self._fail("text_too_long", f" ({exc})")
        except ValueError as exc:
            return PermanentFailure(code="invalid_message", message=str(exc))
        url = dialect.url(self._sender(dialect, account), "messages")
        try:
            response = await self._http().post(url, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            # The request never reached Meta whole: nothing can have been sent.
            return TemporaryFailure(reason=f"{self.product.name} unreachable: "
                                           f"{type(exc).__name__}")
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: retrying might send twice (decision 0004).
            return self._fail("delivery_unknown", f" ({type(exc).__name__})")
        return _send_result(response, self.product)

    async def _upload(self, dialect: Dialect, account: ChannelAccount, headers: dict[str, str],
                      message: OutboundMessage) -> str | SendResult:
        """The Attachment Upload API (``POST .../message_attachments``): the file's reusable
        ``attachment_id``, or why not. An upload reaches no customer: safe to retry."""
        file = message.attachment
        assert file is not None
        kind = {"type": _MEDIA_TYPES[message.content_kind], "payload": {"is_reusable": True}}
        try:
            response = await self._http().post(
                dialect.url(self._sender(dialect, account), "message_attachments"),
                headers=headers, data={"message": json.dumps({"attachment": kind})},
                files={"filedata": (file.filename, file.data, file.mime_type)})
        except httpx.TransportError as exc:
            return TemporaryFailure(reason=f"{self.product.name} upload failed: "
                                           f"{type(exc).__name__}")
        if not response.is_success:
            return _send_result(response, self.product)
        try:
            return str(response.json()["attachment_id"])
        except (ValueError, KeyError, TypeError):
            return TemporaryFailure(reason="the upload answered without an attachment_id")

    # ---- media --------------------------------------------------------------------------------

    async def fetch_media(self, account: ChannelAccount, media: MediaRef) -> DownloadedMedia:
        """The bytes behind an attachment URL. Meta's CDN URLs (``fbcdn.net``, ``lookaside``)
        are signed and expire: fetched with a plain GET; the token is sent only to the API host
        itself (httpx drops it on a redirect to another host)."""
        url = media.url or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MediaUnavailable(f"no {self.product.name} attachment URL")
        dialect = self.dialect_for(account)
        headers: dict[str, str] = {}
        if parts.netloc == urlsplit(str(dialect.api_base_url)).netloc:
            try:
                headers = dialect.auth(account.credentials or {})
            except KeyError as exc:
                raise MediaUnavailable(f"missing credential {exc}") from exc
        response = await self._download(url, headers=headers)
        mime_type = (response.headers.get("content-type") or media.mime_type
                     or mimetypes.guess_type(parts.path)[0] or "application/octet-stream")
        return DownloadedMedia(data=response.content, mime_type=mime_type,
                               filename=media.filename)

    # ---- connection check (the flow is WhatsApp's `check_connection`) ------------------------

    explanations = _EXPLANATIONS

    def explain(self, code: str, language: str) -> str:
        return explain(code, language, self.product.kind)

    def _probe(self, dialect: Dialect, account: ChannelAccount
               ) -> tuple[str, dict[str, str] | None]:
        """The token's owner, ``GET /me?fields=id,name``: the Page (a Page token) or the
        Instagram account (Instagram Login)."""
        return dialect.url("me"), {"fields": "id,name"}

    def _describe(self, data: dict[str, Any], account: ChannelAccount) -> ConnectionCheck:
        owner, name = str(data.get("id") or ""), str(data.get("name") or "")
        if not owner:
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        detail = f"{name} ({owner})" if name else owner
        # A Page token names its Page; Instagram's webhook id is the account, not the Page, so
        # only Messenger can tell a token of another Page.
        if self.product is MESSENGER and account.external_id and owner != account.external_id:
            return ConnectionCheck(ok=False, detail=detail, error_code="account_mismatch")
        return ConnectionCheck(ok=True, detail=detail)


class MessengerAdapter(_MetaMessagingAdapter):
    """Facebook Messenger: ``graph.facebook.com/{version}/{page_id}/messages`` (``me`` when the
    channel has no Page id) with ``Authorization: Bearer <credentials["access_token"]>``."""

    kind = "messenger"
    product = MESSENGER
    dialect = GRAPH


class InstagramAdapter(_MetaMessagingAdapter):
    """Instagram Direct: through the linked Facebook Page (``graph.facebook.com/…/me/messages``
    with the Page token) or with Instagram Login (``api_base_url`` ``graph.instagram.com``:
    ``/{ig_user_id}/messages`` with the Instagram token). Texts are limited to 1,000 bytes."""

    kind = "instagram"
    product = INSTAGRAM
    dialect = dataclasses.replace(GRAPH, number_in_path=False)

    def dialect_for(self, account: ChannelAccount) -> Dialect:
        settings = account.settings or {}
        dialect = self.dialect.with_settings(settings)
        if "number_in_path" not in settings and urlsplit(
                str(dialect.api_base_url)).netloc == urlsplit(INSTAGRAM_LOGIN_BASE_URL).netloc:
            dialect = dataclasses.replace(dialect, number_in_path=True)
        return dialect


# ---- request bodies ---------------------------------------------------------------------------

class TextTooLong(ValueError):
    """The text exceeds the product's limit (Instagram counts UTF-8 bytes)."""


def _needs_upload(message: OutboundMessage) -> bool:
    """A file of ours to send, not yet known to Meta by attachment id or URL."""
    return (message.content_kind in _MEDIA_TYPES and message.attachment is not None
            and not message.payload.get("attachment_id") and not message.attachment_url)


def build_request(message: OutboundMessage, product: Product = MESSENGER) -> dict[str, Any]:
    """The Send API body for ``message``. ``payload`` may carry ``human_agent`` (true: tag the
    message ``HUMAN_AGENT``, allowed up to 7 days after the customer's last message) or ``tag``
    (another message tag, Messenger only), ``quick_replies`` and ``buttons`` (Meta's objects,
    passed through; buttons make a button template of the body), ``metadata`` (echoed back in
    the echo webhook), ``attachment_id`` (a saved attachment instead of ``attachment_url``) and
    ``is_reusable``. ValueError when something needed is missing; `TextTooLong` over the limit.
    """
    payload = message.payload or {}
    if not message.recipient_handle:
        raise ValueError("The message has no recipient.")
    body: dict[str, Any] = {"recipient": {"id": message.recipient_handle}}
    tag = "HUMAN_AGENT" if payload.get("human_agent") is True else payload.get("tag")
    if tag:
        if tag not in product.tags:
            raise ValueError(f"{product.name} does not accept the message tag {tag!r}.")
        body["messaging_type"] = "MESSAGE_TAG"
        body["tag"] = tag
    elif product.messaging_type:
        body["messaging_type"] = product.messaging_type
    kind = message.content_kind
    out: dict[str, Any] = {}
    if kind in ("text", "interactive") and payload.get("buttons"):
        buttons = list(payload["buttons"])
        if len(buttons) > MAX_BUTTONS or not message.body:
            raise ValueError(f"A button template needs a text and at most {MAX_BUTTONS} "
                             "buttons.")
        _check_text(message.body, product)
        out["attachment"] = {"type": "template", "payload": {
            "template_type": "button", "text": message.body, "buttons": buttons}}
    elif kind in ("text", "interactive"):
        if not message.body:
            raise ValueError("A text message needs a body.")
        _check_text(message.body, product)
        out["text"] = message.body
    elif kind in _MEDIA_TYPES:
        if message.body:
            raise ValueError(f"{product.name} cannot send a caption with a file; send the text "
                             "as a message of its own.")
        if payload.get("attachment_id"):
            media: dict[str, Any] = {"attachment_id": str(payload["attachment_id"])}
        elif message.attachment_url:
            media = {"url": message.attachment_url}
            if payload.get("is_reusable"):
                media["is_reusable"] = True
        else:
            raise ValueError(f"A {kind} message needs a file.")
        out["attachment"] = {"type": _MEDIA_TYPES[kind], "payload": media}
    else:
        raise ValueError(f"{product.name} cannot send {kind!r} messages.")
    if payload.get("quick_replies"):
        quick_replies = list(payload["quick_replies"])
        if len(quick_replies) > MAX_QUICK_REPLIES:
            raise ValueError(f"At most {MAX_QUICK_REPLIES} quick replies can be sent.")
        out["quick_replies"] = quick_replies
    if payload.get("metadata"):
        out["metadata"] = str(payload["metadata"])
    body["message"] = out
    return body


def _check_text(text: str, product: Product) -> None:
    size = len(text.encode()) if product.text_in_bytes else len(text)
    if size > product.max_text:
        unit = "bytes" if product.text_in_bytes else "characters"
        raise TextTooLong(f"{size} {unit}; {product.name} accepts at most {product.max_text}")


# ---- responses --------------------------------------------------------------------------------

def _send_result(response: httpx.Response, product: Product) -> SendResult:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success:
        if isinstance(data, dict) and data.get("message_id"):
            return Sent(provider_message_id=str(data["message_id"]))
        return PermanentFailure(code="delivery_unknown",
                                message=explain("delivery_unknown", "en", product.kind)
                                + " (the answer had no message id)")
    error = data.get("error") if isinstance(data, dict) else None
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if isinstance(error, dict) and _int(error.get("code")) is not None:
        code, subcode = _int(error["code"]), _int(error.get("error_subcode"))
        detail = str(error.get("error_user_msg") or error.get("message") or "")
        if code in TEMPORARY_CODES or error.get("is_transient") is True or (
                response.status_code >= 500):
            return TemporaryFailure(reason=f"{code}: {detail}", retry_after_seconds=retry_after)
        key = error_code(code, subcode)
        if key in _EXPLANATIONS:
            return PermanentFailure(code=key, message=explain(key, "en", product.kind))
        return PermanentFailure(code=key, message=detail or explain(key, "en", product.kind))
    if response.status_code == 429 or response.status_code >= 500:
        return TemporaryFailure(reason=f"HTTP {response.status_code}",
                                retry_after_seconds=retry_after)
    return PermanentFailure(code=f"http_{response.status_code}",
                            message=explain("", "en", product.kind))


def error_code(code: int | None, subcode: int | None = None) -> str:
    """Our code for Meta's (code, subcode): ``outside_window`` for the closed 24-hour window,
    the subcode when we explain it (``2018001``), else the code (``551``)."""
    if code == 10 and subcode in OUTSIDE_WINDOW_SUBCODES:
        return "outside_window"
    if subcode is not None and str(subcode) in _EXPLANATIONS:
        return str(subcode)
    return str(code)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---- webhooks ---------------------------------------------------------------------------------

def parse_webhook(payload: dict[str, Any], product: Product = MESSENGER) -> list[WebhookEvent]:
    """Every customer event in a (batched) Messenger Platform webhook of ``product``.

    Messages (text, attachments, quick replies), postbacks and ad/link referrals are inbound
    events; reactions are ``reaction`` messages; ``delivery.mids`` are ``delivered`` statuses and
    an Instagram ``read.mid`` a ``read`` one; receipts that carry only a watermark (Messenger)
    are `ReceiptWatermark`s; echoes (``is_echo``: the page's own messages, from us or another
    tool) are inbound events marked ``echo``, the customer being their recipient. Not turned into
    events: Instagram ``is_deleted`` notices, ``standby`` (handover) and ``changes``
    (comments). A payload that is not ``product``'s envelope is a ValueError."""
    if not isinstance(payload, dict) or payload.get("object") != product.webhook_object:
        raise ValueError(f"not the {product.name} webhook envelope")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise ValueError(f"{product.name} webhook without entries")
    events: list[WebhookEvent] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"{product.name} webhook with a malformed entry")
        for item in entry.get("messaging") or []:
            if isinstance(item, dict):
                events.extend(_messaging(entry, item))
    return events


def _moment(milliseconds: Any) -> datetime:
    """A Messenger Platform timestamp (milliseconds since the epoch), exactly."""
    try:
        seconds, millis = divmod(int(milliseconds), 1000)
        return datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=millis)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError("Messenger Platform event with a bad timestamp") from exc


def _receipt_time(milliseconds: Any) -> datetime:
    """A receipt's time; a receipt without one must not fail the customer messages batched
    with it."""
    try:
        return _moment(milliseconds)
    except ValueError:
        return datetime.now(UTC)


def _id(obj: Any) -> str:
    return str(obj.get("id") or "") if isinstance(obj, dict) else ""


def _messaging(entry: dict[str, Any], item: dict[str, Any]) -> list[WebhookEvent]:
    message = item.get("message")
    if isinstance(message, dict) and message.get("is_deleted"):
        return []  # the customer unsent it
    echo = isinstance(message, dict) and bool(message.get("is_echo"))
    account_id = str(entry.get("id") or _id(item.get("recipient" if not echo else "sender")))
    # An echo is the page's own message: the customer is its recipient.
    sender = _id(item.get("recipient" if echo else "sender"))
    if isinstance(item.get("delivery"), dict):
        delivery = item["delivery"]
        at = _receipt_time(delivery.get("watermark") or item.get("timestamp")
                           or entry.get("time"))
        mids = [str(mid) for mid in delivery.get("mids") or [] if mid]
        if not mids and delivery.get("watermark") and sender:
            return [ReceiptWatermark(account_id, sender, "delivered", at)]
        return [StatusEvent(account_id=account_id, provider_message_id=mid,
                            status="delivered", at=at) for mid in mids]
    if isinstance(item.get("read"), dict):
        read = item["read"]
        if not read.get("mid"):
            if read.get("watermark") and sender:  # Messenger: read up to a moment
                return [ReceiptWatermark(account_id, sender, "read",
                                         _receipt_time(read["watermark"]))]
            return []
        return [StatusEvent(account_id=account_id, provider_message_id=str(read["mid"]),
                            status="read",
                            at=_receipt_time(item.get("timestamp") or entry.get("time")))]
    kinds = [key for key in ("message", "postback", "reaction", "referral")
             if isinstance(item.get(key), dict)]
    if not kinds:
        return []  # optins, handovers, policy notices, edits...: nothing we track
    if not sender:
        raise ValueError("Messenger Platform event without a sender")
    timestamp = item.get("timestamp") or entry.get("time")
    if timestamp in (None, ""):
        raise ValueError("Messenger Platform event without a timestamp")
    common = {"account_id": account_id, "handle": sender, "sent_at": _moment(timestamp)}
    kind = kinds[0]
    if echo:
        return _message({**common, "echo": True}, item["message"], None)
    if kind == "message":
        return _message(common, item["message"], item.get("referral"))
    if kind == "postback":
        postback = item["postback"]
        referral = postback.get("referral") or item.get("referral")
        return [InboundEvent(
            **common, provider_message_id=str(postback.get("mid")
                                              or f"postback:{sender}:{timestamp}"),
            content_kind="interactive", body=str(postback.get("title") or ""),
            payload={"type": "postback", "id": postback.get("payload"),
                     "title": postback.get("title")},
            referral=dict(referral) if isinstance(referral, dict) else None)]
    if kind == "reaction":
        reaction = item["reaction"]
        target = str(reaction.get("mid") or "")
        payload = {"message_id": target,
                   "emoji": str(reaction.get("emoji") or "")
                   if reaction.get("action") != "unreact" else "",
                   "action": reaction.get("action") or "react"}
        if reaction.get("reaction"):
            payload["reaction"] = reaction["reaction"]
        return [InboundEvent(
            **common, provider_message_id=f"reaction:{target}:{sender}:{timestamp}",
            content_kind="reaction", body=payload["emoji"], payload=payload)]
    # A referral on its own: the customer opened the conversation from an ad or an m.me link
    # without writing yet. Kept as a message so the conversation (and its window) opens.
    referral = dict(item["referral"])
    return [InboundEvent(
        **common, provider_message_id=f"referral:{sender}:{timestamp}",
        content_kind="interactive", payload={"type": "referral", **_referral_summary(referral)},
        referral=referral)]


def _referral_summary(referral: dict[str, Any]) -> dict[str, Any]:
    summary = {key: referral[key] for key in ("source", "ref", "ad_id") if referral.get(key)}
    ads = referral.get("ads_context_data")
    if isinstance(ads, dict) and ads.get("ad_title"):
        summary["ad_title"] = ads["ad_title"]
    return summary


def _message(common: dict[str, Any], msg: dict[str, Any], outer_referral: Any
             ) -> list[WebhookEvent]:
    mid = str(msg.get("mid") or "")
    if not mid:
        raise ValueError("Messenger Platform message without a mid")
    text = str(msg.get("text") or "")
    context: dict[str, Any] = {}
    reply_to = msg.get("reply_to")
    if isinstance(reply_to, dict):
        if reply_to.get("mid"):
            context["message_id"] = reply_to["mid"]
        if isinstance(reply_to.get("story"), dict):
            context["story"] = dict(reply_to["story"])
    referral = msg.get("referral") if isinstance(msg.get("referral"), dict) else outer_referral
    referral = dict(referral) if isinstance(referral, dict) else None
    attachments = [a for a in msg.get("attachments") or [] if isinstance(a, dict)]
    contents: list[tuple[str, str, MediaRef | None, dict[str, Any]]]
    if attachments:
        # Several photos sent at once arrive as one message: one event each, so every file is
        # downloaded; the first keeps the mid, and the text (if any) as its caption.
        contents = [_attachment(a) for a in attachments]
        kind, _, media, payload = contents[0]
        contents[0] = (kind, text, media, payload)
    elif isinstance(msg.get("quick_reply"), dict):
        contents = [("interactive", text, None, {
            "type": "quick_reply", "id": msg["quick_reply"].get("payload"), "title": text})]
    elif msg.get("is_unsupported"):
        contents = [("unsupported", "", None, {"type": "unsupported"})]
    else:
        contents = [("text", text, None, {})]
    events: list[WebhookEvent] = []
    for index, (kind, body, media, payload) in enumerate(contents):
        if context:
            payload["context"] = dict(context)
        events.append(InboundEvent(
            **common, provider_message_id=mid if index == 0 else f"{mid}#{index + 1}",
            content_kind=kind, body=body, media=media, payload=payload,
            referral=referral if index == 0 else None))
    return events


def _attachment(attachment: dict[str, Any]) -> tuple[str, str, MediaRef | None, dict[str, Any]]:
    kind = str(attachment.get("type") or "")
    obj = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
    url = str(obj.get("url") or "")
    if kind in _INBOUND_MEDIA and url:
        if kind == "image" and obj.get("sticker_id"):
            return "sticker", "", MediaRef(url=url), {"sticker_id": obj["sticker_id"]}
        filename = None
        if kind == "file":
            name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
            filename = name if "." in name else None
        return _INBOUND_MEDIA[kind], "", MediaRef(url=url, filename=filename), {}
    # Shares, story mentions, reels, posts, links (``fallback``)...: kept as they came.
    return "unsupported", "", None, {"type": kind or "unknown", "raw": dict(attachment)}
