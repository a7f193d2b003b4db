"""WhatsApp through Meta's Cloud API, directly (``whatsapp_cloud``) or through a BSP that proxies
it unchanged (``whatsapp_bsp``, 360dialog). Request bodies, webhook bodies and error objects are
Meta's in both cases; only the host, the path prefix and the auth header differ, and those are
settings (`Dialect`), so another Cloud-API-compatible BSP is a change of channel settings.

Wire format: Meta's WhatsApp Cloud API reference and 360dialog's "Cloud API hosting" docs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from invekto.channels.adapters.base import (
    ChannelAccount,
    ConnectionCheck,
    DownloadedMedia,
    InboundEvent,
    MediaRef,
    OutboundFile,
    OutboundMessage,
    PermanentFailure,
    ProviderTemplate,
    SendResult,
    Sent,
    StatusEvent,
    TemplateStatusEvent,
    TemporaryFailure,
    WebhookEvent,
)
from invekto.channels.adapters.http import MediaUnavailable, PooledHttp

__all__ = [
    "CreatedTemplate",
    "Dialect",
    "MediaUnavailable",
    "TemplateRequestFailed",
    "WhatsApp360DialogAdapter",
    "WhatsAppCloudAdapter",
    "check_failure",
    "explain",
    "sign",
    "verify_signature",
]

# Meta error codes that mean "not now" rather than "never": throttling and service unavailable.
TEMPORARY_CODES = frozenset({4, 80007, 130429, 131016, 131056})
_MEDIA_KINDS = ("image", "video", "document", "sticker", "audio")
_CAPTIONED = ("image", "video", "document")
# Statuses we track; "played" (a voice note was listened to) implies read.
_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read",
             "failed": "failed"}


# ---- webhook signatures (Meta: WhatsApp, Messenger, Instagram) --------------------------------

def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``X-Hub-Signature-256: sha256=<hex>``) signs the raw ``body`` bytes with
    the Meta app secret. Constant-time; no secret or no header is never valid."""
    if not app_secret or not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    return hmac.compare_digest(sign(app_secret, body), "sha256=" + given.lower())


# ---- human explanations of error codes, for the UI --------------------------------------------

_EXPLANATIONS: dict[str, tuple[str, str]] = {  # code: (English, Turkish)
    "131047": ("More than 24 hours have passed since the customer last wrote; only an approved "
               "template can be sent now.",
               "Müşterinin son mesajının üzerinden 24 saatten fazla geçti; şimdi yalnızca onaylı "
               "bir şablon gönderilebilir."),
    "131026": ("The message could not be delivered: the number may not be on WhatsApp or its app "
               "may be out of date.",
               "Mesaj iletilemedi: numara WhatsApp kullanmıyor ya da uygulaması güncel değil "
               "olabilir."),
    "131051": ("WhatsApp does not support this type of message.",
               "WhatsApp bu mesaj türünü desteklemiyor."),
    "130429": ("WhatsApp's sending rate limit was reached; the message will be tried again "
               "shortly.",
               "WhatsApp gönderim hızı sınırına ulaşıldı; mesaj birazdan yeniden denenecek."),
    "131056": ("Too many messages to this customer in a short time; the message will be tried "
               "again shortly.",
               "Bu müşteriye kısa sürede çok fazla mesaj gönderildi; mesaj birazdan yeniden "
               "denenecek."),
    "4": ("Too many requests to WhatsApp; the message will be tried again shortly.",
          "WhatsApp'a çok fazla istek gönderildi; mesaj birazdan yeniden denenecek."),
    "80007": ("The WhatsApp account's rate limit was reached; the message will be tried again "
              "shortly.",
              "WhatsApp hesabının istek sınırına ulaşıldı; mesaj birazdan yeniden denenecek."),
    "131016": ("WhatsApp is temporarily unavailable; the message will be tried again shortly.",
               "WhatsApp geçici olarak hizmet veremiyor; mesaj birazdan yeniden denenecek."),
    "100": ("WhatsApp rejected the request as invalid, for example a wrong phone number.",
            "WhatsApp isteği geçersiz buldu; örneğin telefon numarası hatalı olabilir."),
    "190": ("The WhatsApp access token has expired or is invalid; an admin must reconnect the "
            "channel.",
            "WhatsApp erişim anahtarının süresi dolmuş ya da geçersiz; bir yöneticinin kanalı "
            "yeniden bağlaması gerekiyor."),
    "368": ("Meta has temporarily blocked this WhatsApp account for a policy violation.",
            "Meta bu WhatsApp hesabını bir politika ihlali nedeniyle geçici olarak engelledi."),
    "131000": ("Something went wrong at WhatsApp; try sending the message again.",
               "WhatsApp tarafında bir sorun oluştu; mesajı yeniden göndermeyi deneyin."),
    "131049": ("WhatsApp held back this marketing message to limit what the customer receives; "
               "try again later.",
               "WhatsApp, müşterinin aldığı pazarlama mesajlarını sınırlamak için bu mesajı "
               "iletmedi; daha sonra yeniden deneyin."),
    "131050": ("The customer has stopped marketing messages from this business.",
               "Müşteri bu işletmeden pazarlama mesajı almayı durdurdu."),
    "131052": ("WhatsApp could not download the customer's file.",
               "WhatsApp müşterinin dosyasını indiremedi."),
    "131053": ("WhatsApp could not fetch or accept the file to send.",
               "WhatsApp gönderilecek dosyayı alamadı ya da kabul etmedi."),
    "132000": ("The template's number of variables does not match what was sent.",
               "Şablondaki değişken sayısı gönderilenle eşleşmiyor."),
    "132001": ("This template does not exist in that language or is not approved.",
               "Bu şablon o dilde yok ya da onaylanmamış."),
    "132015": ("This template is paused because of low quality.",
               "Bu şablon düşük kalite nedeniyle duraklatıldı."),
    "delivery_unknown": ("The connection broke after the message was handed over, so it may or "
                         "may not have been sent; check before sending again.",
                         "Mesaj iletildikten sonra bağlantı koptu; gönderilmiş olabilir. Yeniden "
                         "göndermeden önce kontrol edin."),
    "missing_credentials": ("The channel has no WhatsApp access key; an admin must reconnect the "
                            "channel.",
                            "Kanalda WhatsApp erişim anahtarı yok; bir yöneticinin kanalı yeniden "
                            "bağlaması gerekiyor."),
    "invalid_settings": ("The channel's WhatsApp API address is not valid; an admin must fix "
                         "the channel settings.",
                         "Kanalın WhatsApp API adresi geçersiz; bir yöneticinin kanal "
                         "ayarlarını düzeltmesi gerekiyor."),
    "invalid_message": ("This message cannot be sent on WhatsApp as it is.",
                        "Bu mesaj bu haliyle WhatsApp üzerinden gönderilemez."),
    # What a connection check (``check_connection``) found.
    "connected": ("The connection works.", "Bağlantı çalışıyor."),
    "unreachable": ("WhatsApp could not be reached at the channel's API address; check the "
                    "address and this server's internet connection.",
                    "Kanalın API adresinden WhatsApp'a ulaşılamadı; adresi ve bu sunucunun "
                    "internet bağlantısını kontrol edin."),
    "provider_error": ("WhatsApp answered with a server error; try again in a few minutes.",
                       "WhatsApp bir sunucu hatasıyla yanıt verdi; birkaç dakika sonra yeniden "
                       "deneyin."),
    "unexpected_answer": ("The answer from the channel's API address was not WhatsApp's; check "
                          "the address.",
                          "Kanalın API adresinden gelen yanıt WhatsApp'ın yanıtı değil; adresi "
                          "kontrol edin."),
    "unknown_account": ("WhatsApp does not know this phone number ID, or the access token may "
                        "not use it; check both.",
                        "WhatsApp bu telefon numarası kimliğini tanımıyor ya da erişim "
                        "anahtarının bu numaraya yetkisi yok; ikisini de kontrol edin."),
    "missing_account_id": ("The channel has no WhatsApp phone number ID; an admin must enter it "
                           "in the channel settings.",
                           "Kanalda WhatsApp telefon numarası kimliği yok; bir yöneticinin "
                           "bunu kanal ayarlarına girmesi gerekiyor."),
    "invalid_api_key": ("360dialog refused the API key; check the D360-API-KEY and enter it "
                        "again.",
                        "360dialog API anahtarını kabul etmedi; D360-API-KEY değerini kontrol "
                        "edip yeniden girin."),
    "blocked": ("WhatsApp reports that this number cannot send messages now; WhatsApp Manager "
                "or the 360dialog hub shows why.",
                "WhatsApp bu numaranın şu anda mesaj gönderemediğini bildiriyor; nedenini "
                "WhatsApp Yöneticisi'nde ya da 360dialog panelinde görebilirsiniz."),
    "missing_waba_id": ("The channel has no WhatsApp Business Account ID; an admin must enter "
                        "it in the channel settings to manage templates.",
                        "Kanalda WhatsApp İşletme Hesabı kimliği yok; şablonları yönetmek için "
                        "bir yöneticinin bunu kanal ayarlarına girmesi gerekiyor."),
    "template_delete_unsupported": ("360dialog's API cannot delete templates; delete it in the "
                                    "360dialog hub, then sync the templates.",
                                    "360dialog API'si şablon silemiyor; şablonu 360dialog "
                                    "panelinden silin, sonra şablonları eşitleyin."),
    "refused": ("WhatsApp refused the request; the details below say why.",
                "WhatsApp isteği reddetti; nedeni aşağıdaki ayrıntılarda."),
}
_GENERIC = ("WhatsApp could not deliver the message.", "WhatsApp mesajı iletemedi.")


def explain(code: str, language: str) -> str:
    """A short explanation of a WhatsApp error code for people, in Turkish (``tr``) or English
    (anything else); unknown codes get a generic sentence."""
    english, turkish = _EXPLANATIONS.get(str(code).strip(), _GENERIC)
    return turkish if language.lower().replace("_", "-").split("-")[0] == "tr" else english


# ---- the two dialects of the Cloud API --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Dialect:
    """What differs between Meta's Cloud API and a BSP proxying it. Every field can be overridden
    per channel with the same key in ``ChannelAccount.settings``."""

    api_base_url: str
    api_version: str | None  # the path's first segment (``v25.0``); None: unversioned paths
    number_in_path: bool  # send to ``/{phone_number_id}/messages`` rather than ``/messages``
    auth_header: str  # ``Authorization`` or ``D360-API-KEY``
    auth_prefix: str  # ``Bearer `` or nothing
    credential: str  # the ``ChannelAccount.credentials`` key holding the token
    rewrite_media_host: bool  # download media from our host instead of Meta's lookaside host

    def with_settings(self, settings: dict[str, Any]) -> Dialect:
        names = {f.name for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **{
            k: v for k, v in settings.items()
            if k in names and (v is not None or k == "api_version")})

    def url(self, *segments: str) -> str:
        parts = [self.api_base_url.rstrip("/")]
        if self.api_version:
            parts.append(self.api_version.strip("/"))
        return "/".join([*parts, *segments])

    def auth(self, credentials: dict[str, Any]) -> dict[str, str]:
        token = credentials.get(self.credential)
        if not token:
            raise KeyError(self.credential)
        return {self.auth_header: f"{self.auth_prefix}{token}"}


CLOUD = Dialect(api_base_url="https://graph.facebook.com", api_version="v25.0",
                number_in_path=True, auth_header="Authorization", auth_prefix="Bearer ",
                credential="access_token", rewrite_media_host=False)
D360 = Dialect(api_base_url="https://waba-v2.360dialog.io", api_version=None,
               number_in_path=False, auth_header="D360-API-KEY", auth_prefix="",
               credential="api_key", rewrite_media_host=True)


class CloudApiAdapter(PooledHttp):
    kind: str
    dialect: Dialect
    provider_name = "WhatsApp"

    def dialect_for(self, account: ChannelAccount) -> Dialect:
        return self.dialect.with_settings(account.settings or {})

    # ---- inbound ------------------------------------------------------------------------------

    def parse_webhook(self, payload: dict[str, Any]) -> list[WebhookEvent]:
        return parse_webhook(payload)

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult:
        dialect = self.dialect_for(account)
        base = urlsplit(str(dialect.api_base_url))
        if base.scheme not in ("http", "https") or not base.netloc:
            return PermanentFailure(code="invalid_settings",
                                    message=explain("invalid_settings", "en"))
        try:
            headers = dialect.auth(account.credentials or {})
        except KeyError:
            return PermanentFailure(code="missing_credentials",
                                    message=explain("missing_credentials", "en"))
        if dialect.number_in_path and not account.external_id:
            return PermanentFailure(code="invalid_message",
                                    message="The channel has no WhatsApp phone number id.")
        if _needs_upload(message):
            media_id = await self._upload(dialect, account, headers, message.attachment)
            if not isinstance(media_id, str):
                return media_id
            message = dataclasses.replace(message,
                                          payload={**message.payload, "media_id": media_id})
        try:
            body = build_request(message)
        except ValueError as exc:
            return PermanentFailure(code="invalid_message", message=str(exc))
        url = self._url(dialect, account, "messages")
        try:
            response = await self._http().post(url, json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                httpx.WriteError, httpx.WriteTimeout, httpx.UnsupportedProtocol) as exc:
            # The request never reached the provider whole: nothing can have been sent.
            return TemporaryFailure(reason=f"WhatsApp unreachable: {type(exc).__name__}")
        except httpx.TransportError as exc:
            # Sent, but the answer was lost: retrying might send twice (decision 0004).
            return PermanentFailure(code="delivery_unknown",
                                    message=explain("delivery_unknown", "en")
                                    + f" ({type(exc).__name__})")
        return _send_result(response)

    @staticmethod
    def _url(dialect: Dialect, account: ChannelAccount, endpoint: str) -> str:
        """Cloud API paths name the phone number id; a BSP's key already identifies it."""
        if dialect.number_in_path:
            return dialect.url(str(account.external_id), endpoint)
        return dialect.url(endpoint)

    async def _upload(self, dialect: Dialect, account: ChannelAccount, headers: dict[str, str],
                      file: OutboundFile) -> str | SendResult:
        """Upload an agent's file (``POST .../media``); its media id, or why not. An upload
        reaches no customer, so any failure to reach the provider is safe to retry."""
        try:
            response = await self._http().post(
                self._url(dialect, account, "media"), headers=headers,
                data={"messaging_product": "whatsapp", "type": file.mime_type},
                files={"file": (file.filename, file.data, file.mime_type)})
        except httpx.TransportError as exc:
            return TemporaryFailure(reason=f"WhatsApp media upload failed: {type(exc).__name__}")
        if not response.is_success:
            return _send_result(response)
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            return TemporaryFailure(reason="the media upload answered without an id")

    # ---- media --------------------------------------------------------------------------------

    async def fetch_media(self, account: ChannelAccount, media: MediaRef) -> DownloadedMedia:
        """The bytes of a customer's file: look the media id up (a short-lived URL, ~5 minutes),
        then download it with the same credentials."""
        if not media.media_id:
            raise MediaUnavailable("no WhatsApp media id")
        dialect = self.dialect_for(account)
        try:
            headers = dialect.auth(account.credentials or {})
        except KeyError as exc:
            raise MediaUnavailable(f"missing credential {exc}") from exc
        lookup = await self._download(dialect.url(media.media_id), headers=headers,
                                      follow_redirects=False)
        try:
            info = lookup.json()
            url = str(info["url"])
        except (ValueError, KeyError, TypeError) as exc:
            raise MediaUnavailable("media lookup answered without a url") from exc
        if dialect.rewrite_media_host:
            url = _rehost(url, dialect.api_base_url)
        download = await self._download(url, headers=headers)
        mime_type = (info.get("mime_type") or media.mime_type
                     or download.headers.get("content-type") or "application/octet-stream")
        return DownloadedMedia(data=download.content, mime_type=mime_type,
                               filename=media.filename)


    # ---- connection check ---------------------------------------------------------------------

    # The codes `explain` words, and ours for a 401/403 without Meta's error object in it.
    explanations: dict[str, tuple[str, str]] = _EXPLANATIONS
    refused_credentials = "190"

    def explain(self, code: str, language: str) -> str:
        return explain(code, language)

    async def check_connection(self, account: ChannelAccount) -> ConnectionCheck:
        """One cheap authenticated read (`_probe`) that sends nothing to anyone: whether the
        channel's address, credentials and account id work, and how the provider names it."""
        dialect = self.dialect_for(account)
        base = urlsplit(str(dialect.api_base_url))
        if base.scheme not in ("http", "https") or not base.netloc:
            return ConnectionCheck(ok=False, error_code="invalid_settings")
        try:
            headers = dialect.auth(account.credentials or {})
        except KeyError:
            return ConnectionCheck(ok=False, error_code="missing_credentials")
        probe = self._probe(dialect, account)
        if isinstance(probe, ConnectionCheck):
            return probe
        url, params = probe
        try:
            response = await self._http().get(url, params=params, headers=headers)
        except httpx.TransportError as exc:
            return ConnectionCheck(ok=False, detail=type(exc).__name__,
                                   error_code="unreachable")
        if not response.is_success:
            return check_failure(response, explained=self.explanations,
                                 unauthorized=self.refused_credentials)
        data = _json(response)
        if not isinstance(data, dict):
            return ConnectionCheck(ok=False, detail=f"HTTP {response.status_code}",
                                   error_code="unexpected_answer")
        return self._describe(data, account)

    def _probe(self, dialect: Dialect, account: ChannelAccount
               ) -> tuple[str, dict[str, str] | None] | ConnectionCheck:
        """The Cloud API's phone number node: ``GET /{phone_number_id}?fields=...``."""
        if not account.external_id:
            return ConnectionCheck(ok=False, error_code="missing_account_id")
        return (dialect.url(account.external_id),
                {"fields": "display_phone_number,verified_name"})

    def _describe(self, data: dict[str, Any], account: ChannelAccount) -> ConnectionCheck:
        parts = [str(data.get(key) or "") for key in ("verified_name", "display_phone_number")]
        if not any(parts):
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        return ConnectionCheck(ok=True, detail=" · ".join(part for part in parts if part))


    # ---- templates ----------------------------------------------------------------------------

    async def list_templates(self, account: ChannelAccount) -> list[ProviderTemplate]:
        """The account's approved templates, as the provider lists them now. TemplatesUnavailable
        when it cannot say (no account id, refused credentials, unreachable)."""
        dialect = self.dialect_for(account)
        try:
            headers = dialect.auth(account.credentials or {})
        except KeyError as exc:
            raise TemplatesUnavailable("missing_credentials") from exc
        url, key = self._templates_at(dialect, account)
        try:
            response = await self._http().get(url, headers=headers,
                                              params={"limit": "250"})
        except httpx.TransportError as exc:
            raise TemplatesUnavailable("unreachable") from exc
        data = _json(response)
        if not response.is_success or not isinstance(data, dict):
            raise TemplatesUnavailable(f"http_{response.status_code}")
        return sorted((t for item in data.get(key) or [] if (t := _approved_template(item))),
                      key=lambda t: (t.name, t.language))

    def _templates_at(self, dialect: Dialect, account: ChannelAccount) -> tuple[str, str]:
        """Where the list is, and its key: Meta's ``/{waba_id}/message_templates`` (``data``)."""
        waba_id = str((account.settings or {}).get("waba_id") or "")
        if not waba_id:
            raise TemplatesUnavailable("missing_waba_id")
        return dialect.url(waba_id, "message_templates"), "data"

    # ---- template management (create, delete, the full list) ----------------------------------

    async def list_all_templates(self, account: ChannelAccount) -> list[dict[str, Any]]:
        """Every template of the account whatever its status, as the provider describes them
        (Meta's objects: ``id``, ``name``, ``language``, ``status``, ``category``,
        ``parameter_format``, ``components``, ``rejected_reason``), following ``paging.next``
        page by page. TemplateRequestFailed when the list cannot be read whole."""
        dialect, headers = self._management(account)
        url, key = self._templates_at(dialect, account)
        params: dict[str, str] | None = {"limit": "100", "fields": _TEMPLATE_FIELDS}
        found: list[dict[str, Any]] = []
        for _ in range(_MAX_TEMPLATE_PAGES):
            data = _template_answer(await self._template_call("GET", url, headers,
                                                              params=params))
            found.extend(item for item in data.get(key) or [] if isinstance(item, dict))
            following = (data.get("paging") or {}).get("next")
            if not following:
                return found
            if urlsplit(str(following)).netloc != urlsplit(url).netloc:
                # Our credentials go to the provider's own host only.
                raise TemplateRequestFailed("unexpected_answer",
                                            "the next page of templates is on another host")
            url, params = str(following), None  # the next page's address carries its query
        raise TemplateRequestFailed("unexpected_answer", "too many pages of templates")

    async def create_template(self, account: ChannelAccount, spec: dict[str, Any]
                              ) -> CreatedTemplate:
        """Submit a template for review: ``spec`` is Meta's create body (``name``,
        ``language``, ``category``, ``parameter_format``, ``components``). Meta answers with
        its id and first status (usually PENDING)."""
        dialect, headers = self._management(account)
        url = self._create_template_at(dialect, account)
        data = _template_answer(await self._template_call("POST", url, headers, json=spec))
        template_id = str(data.get("id") or data.get("template_id") or "")
        if not template_id:
            raise TemplateRequestFailed("unexpected_answer",
                                        "the provider answered without the template's id")
        return CreatedTemplate(provider_template_id=template_id,
                               status=str(data.get("status") or "PENDING").upper(),
                               category=str(data.get("category") or spec.get("category") or ""))

    async def delete_template(self, account: ChannelAccount, name: str,
                              template_id: str | None) -> None:
        """Delete one translation (``hsm_id``) of template ``name``, or, without its id, every
        language of it: ``DELETE /{waba_id}/message_templates?name=…&hsm_id=…``."""
        dialect, headers = self._management(account)
        url = self._delete_template_at(dialect, account, name)
        params = {"name": name, **({"hsm_id": template_id} if template_id else {})}
        _template_answer(await self._template_call("DELETE", url, headers, params=params))

    def _create_template_at(self, dialect: Dialect, account: ChannelAccount) -> str:
        return self._waba_templates(dialect, account)

    def _delete_template_at(self, dialect: Dialect, account: ChannelAccount, name: str) -> str:
        return self._waba_templates(dialect, account)

    @staticmethod
    def _waba_templates(dialect: Dialect, account: ChannelAccount) -> str:
        waba_id = str((account.settings or {}).get("waba_id") or "")
        if not waba_id:
            raise TemplateRequestFailed("missing_waba_id", explain("missing_waba_id", "en"))
        return dialect.url(waba_id, "message_templates")

    def _management(self, account: ChannelAccount) -> tuple[Dialect, dict[str, str]]:
        dialect = self.dialect_for(account)
        base = urlsplit(str(dialect.api_base_url))
        if base.scheme not in ("http", "https") or not base.netloc:
            raise TemplateRequestFailed("invalid_settings", explain("invalid_settings", "en"))
        try:
            return dialect, dialect.auth(account.credentials or {})
        except KeyError as exc:
            raise TemplateRequestFailed("missing_credentials",
                                        explain("missing_credentials", "en")) from exc

    async def _template_call(self, method: str, url: str, headers: dict[str, str], *,
                             params: dict[str, str] | None = None,
                             json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return await self._http().request(method, url, headers=headers, params=params,
                                              json=json)
        except httpx.TransportError as exc:
            raise TemplateRequestFailed("unreachable", explain("unreachable", "en"),
                                        temporary=True) from exc


# What a full listing asks for: everything the templates table keeps.
_TEMPLATE_FIELDS = "id,name,language,status,category,parameter_format,components,rejected_reason"
# A WhatsApp Business Account holds at most 250 template names (each in a few languages): at
# 100 a page, more pages than this means the provider's paging went round in circles.
_MAX_TEMPLATE_PAGES = 100


@dataclasses.dataclass(frozen=True)
class CreatedTemplate:
    """The provider took a template for review."""

    provider_template_id: str
    status: str  # PENDING, or APPROVED / REJECTED when Meta decided at once
    category: str  # Meta may change it (a UTILITY that reads like MARKETING)


class TemplateRequestFailed(Exception):
    """A template request the provider refused or never answered. ``code``: Meta's error code
    (``100``, ``190``...), ``template_exists`` or one of ours (``unreachable``,
    ``missing_waba_id``, ``not_supported``...); ``detail``: the provider's own words when it gave
    some, else ours; ``temporary``: trying again later may work."""

    def __init__(self, code: str, detail: str, *, temporary: bool = False) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.temporary = code, detail, temporary


# Meta's subcode for "a template with this name already exists in this language".
_TEMPLATE_EXISTS_SUBCODE = 2388024


def _template_answer(response: httpx.Response) -> dict[str, Any]:
    """A template request's JSON answer, or TemplateRequestFailed in words for people: Meta's
    error object (its ``error_user_msg`` first, written for people), else 360dialog's own, else
    the HTTP status."""
    data = _json(response)
    if response.is_success:
        if not isinstance(data, dict):
            raise TemplateRequestFailed("unexpected_answer", explain("unexpected_answer", "en"))
        return data
    error = data.get("error") if isinstance(data, dict) else None
    temporary = response.status_code == 429 or response.status_code >= 500
    if isinstance(error, dict) and error.get("code") is not None:
        code = str(error["code"])
        detail = str(error.get("error_user_msg") or _detail(error) or explain(code, "en"))
        if str(error.get("error_subcode")) == str(_TEMPLATE_EXISTS_SUBCODE):
            code = "template_exists"
        temporary = temporary or error.get("is_transient") is True or (
            code.isdigit() and int(code) in TEMPORARY_CODES)
        raise TemplateRequestFailed(code, detail, temporary=temporary)
    meta = data.get("meta") if isinstance(data, dict) else None  # 360dialog's own error
    detail = str((meta.get("developer_message") if isinstance(meta, dict) else None)
                 or f"HTTP {response.status_code}")
    code = ("190" if response.status_code in (401, 403) else
            "provider_error" if response.status_code >= 500 else f"http_{response.status_code}")
    raise TemplateRequestFailed(code, detail, temporary=temporary)


class TemplatesUnavailable(Exception):
    """The provider's template list could not be read; the argument is a short code."""


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _approved_template(item: Any) -> ProviderTemplate | None:
    if not isinstance(item, dict) or str(item.get("status") or "").upper() != "APPROVED":
        return None
    body = next((str(c.get("text") or "") for c in item.get("components") or []
                 if isinstance(c, dict) and str(c.get("type") or "").upper() == "BODY"), "")
    if not item.get("name") or not item.get("language"):
        return None
    parameters = tuple(dict.fromkeys(_PLACEHOLDER.findall(body)))
    return ProviderTemplate(name=str(item["name"]), language=str(item["language"]),
                            category=str(item.get("category") or ""), body=body,
                            parameters=parameters)


def fill_template(body: str, values: dict[str, str]) -> str:
    """A template's body with its placeholders filled (as the customer will read it)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


class WhatsAppCloudAdapter(CloudApiAdapter):
    """Meta's Cloud API directly: ``graph.facebook.com/{version}/{phone_number_id}/messages``
    with ``Authorization: Bearer <credentials["access_token"]>``."""

    kind = "whatsapp_cloud"
    dialect = CLOUD


class WhatsApp360DialogAdapter(CloudApiAdapter):
    """360dialog's Cloud API hosting: ``waba-v2.360dialog.io/messages`` with
    ``D360-API-KEY: <credentials["api_key"]>`` (the key identifies the number)."""

    kind = "whatsapp_bsp"
    dialect = D360
    refused_credentials = "invalid_api_key"

    def _probe(self, dialect: Dialect, account: ChannelAccount
               ) -> tuple[str, dict[str, str] | None]:
        """360dialog's messaging health status, ``GET /health_status``: the key's number and
        whether it can send (Meta's ``health_status`` summary, proxied)."""
        return dialect.url("health_status"), None

    def _templates_at(self, dialect: Dialect, account: ChannelAccount) -> tuple[str, str]:
        """360dialog lists the key's templates at ``/v1/configs/templates`` (``waba_templates``)."""
        return dialect.url("v1", "configs", "templates"), "waba_templates"

    def _create_template_at(self, dialect: Dialect, account: ChannelAccount) -> str:
        """360dialog documents creating at ``POST /v1/configs/templates`` (Meta's body)."""
        return dialect.url("v1", "configs", "templates")

    def _delete_template_at(self, dialect: Dialect, account: ChannelAccount, name: str) -> str:
        """360dialog's reference documents no way to delete a template through the API: say
        so rather than guess a path; the hub deletes it, and the next sync notices."""
        raise TemplateRequestFailed("not_supported", explain("template_delete_unsupported",
                                                             "en"))

    def _describe(self, data: dict[str, Any], account: ChannelAccount) -> ConnectionCheck:
        health = data.get("health_status")
        if not isinstance(health, dict):
            return ConnectionCheck(ok=False, error_code="unexpected_answer")
        status = str(health.get("can_send_message") or "")
        entities = [e for e in health.get("entities") or [] if isinstance(e, dict)]
        number = next((e for e in entities if e.get("entity_type") == "PHONE_NUMBER"), {})
        problems = [str(error.get("error_description") or "") for entity in entities
                    for error in entity.get("errors") or [] if isinstance(error, dict)]
        detail = " · ".join(part for part in (str(number.get("id") or ""), status,
                                              *problems[:1]) if part)
        if status == "BLOCKED":
            return ConnectionCheck(ok=False, detail=detail, error_code="blocked")
        return ConnectionCheck(ok=True, detail=detail)


def check_failure(response: httpx.Response, *, explained: dict[str, Any],
                  unauthorized: str) -> ConnectionCheck:
    """A connection check the provider refused, in our codes: Meta's error object first (190 a
    bad token, 100 with subcode 33 an id the token cannot read), then the HTTP status (401/403
    refused credentials as ``unauthorized``, 5xx the provider's own trouble)."""
    data = _json(response)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and str(error.get("code", "")).isdigit():
        code, detail = str(error["code"]), str(error.get("message") or "")
        if code == "190":
            return ConnectionCheck(ok=False, detail=detail, error_code="190")
        if code == "100" and str(error.get("error_subcode")) == "33":
            return ConnectionCheck(ok=False, detail=detail, error_code="unknown_account")
        if response.status_code >= 500 or error.get("is_transient") is True:
            return ConnectionCheck(ok=False, detail=detail, error_code="provider_error")
        return ConnectionCheck(ok=False, detail=detail,
                               error_code=code if code in explained else "refused")
    meta = data.get("meta") if isinstance(data, dict) else None  # 360dialog's own error
    detail = str((meta.get("developer_message") if isinstance(meta, dict) else None)
                 or f"HTTP {response.status_code}")
    if response.status_code in (401, 403):
        return ConnectionCheck(ok=False, detail=detail, error_code=unauthorized)
    if response.status_code >= 500:
        return ConnectionCheck(ok=False, detail=detail, error_code="provider_error")
    if data is None:
        return ConnectionCheck(ok=False, detail=detail, error_code="unexpected_answer")
    return ConnectionCheck(ok=False, detail=detail, error_code="refused")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# ---- request bodies ---------------------------------------------------------------------------

def _needs_upload(message: OutboundMessage) -> bool:
    """A file of ours to send, not yet known to the provider by id or URL."""
    return (message.content_kind in _MEDIA_KINDS and message.attachment is not None
            and not message.payload.get("media_id") and not message.attachment_url)


def build_request(message: OutboundMessage) -> dict[str, Any]:
    """Meta's request body for ``message``. ``payload`` carries, by content kind, the object Meta
    expects under the type's name (``interactive``, ``template``, ``location``, ``reaction``,
    ``contacts``), plus ``reply_to`` (a wamid to quote), ``filename`` (documents), ``media_id``
    (send an uploaded file instead of ``attachment_url``), ``preview_url`` (text) and
    ``callback_data`` (for the status webhooks to echo).
    ValueError when something needed is missing."""
    payload = message.payload or {}
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    digits = re.sub(r"\D", "", message.recipient_phone or "")
    if digits:
        body["to"] = digits
    elif message.recipient_handle.lstrip("+").isdigit():
        body["to"] = message.recipient_handle.lstrip("+")
    elif message.recipient_handle:
        body["recipient"] = message.recipient_handle  # a business-scoped user id (BSUID)
    else:
        raise ValueError("The message has no recipient.")
    if payload.get("reply_to"):
        body["context"] = {"message_id": str(payload["reply_to"])}
    if payload.get("callback_data"):  # echoed in the message's status webhooks
        body["biz_opaque_callback_data"] = str(payload["callback_data"])[:512]
    kind = message.content_kind
    if kind == "text":
        if not message.body:
            raise ValueError("A text message needs a body.")
        body["type"] = "text"
        body["text"] = {"preview_url": bool(payload.get("preview_url", False)),
                        "body": message.body}
    elif kind in _MEDIA_KINDS:
        if payload.get("media_id"):
            media: dict[str, Any] = {"id": str(payload["media_id"])}
        elif message.attachment_url:
            media = {"link": message.attachment_url}
        else:
            raise ValueError(f"A {kind} message needs a file.")
        filename = payload.get("filename") or (message.attachment.filename
                                                if message.attachment else None)
        if kind == "document" and filename:
            media["filename"] = filename  # what the customer's phone shows
        if kind in _CAPTIONED and message.body:
            media["caption"] = message.body
        body["type"] = kind
        body[kind] = media
    elif kind == "interactive" and payload.get("choices"):
        body["type"] = "interactive"
        body["interactive"] = _interactive(message.body, payload["choices"])
    elif kind in ("location", "interactive", "reaction", "template", "contact"):
        key = "contacts" if kind == "contact" else kind
        value = payload.get(key)
        if not value:
            raise ValueError(f"A {kind} message needs payload[{key!r}].")
        if kind == "template":
            value = _template(value)
        body["type"] = key
        body[key] = value
    else:
        raise ValueError(f"WhatsApp cannot send {kind!r} messages.")
    return body


def _interactive(body: str, choices: dict[str, Any]) -> dict[str, Any]:
    """WhatsApp's interactive object for our provider-neutral buttons or list (see
    ``inbox.service.checked_choices``)."""
    if not body:
        raise ValueError("Buttons and lists need a message text.")
    result: dict[str, Any] = {"type": "button" if choices["type"] == "buttons" else "list"}
    if choices.get("header"):
        result["header"] = {"type": "text", "text": choices["header"]}
    result["body"] = {"text": body}
    if choices.get("footer"):
        result["footer"] = {"text": choices["footer"]}
    if choices["type"] == "buttons":
        result["action"] = {"buttons": [
            {"type": "reply", "reply": {"id": b["id"], "title": b["title"]}}
            for b in choices["buttons"]]}
    else:
        result["action"] = {"button": choices["button"], "sections": [
            {**({"title": s["title"]} if s.get("title") else {}), "rows": [
                {"id": r["id"], "title": r["title"],
                 **({"description": r["description"]} if r.get("description") else {})}
                for r in s["rows"]]}
            for s in choices["sections"]]}
    return result


def _template(template: dict[str, Any]) -> dict[str, Any]:
    if not template.get("name") or not template.get("language"):
        raise ValueError("A template message needs a template name and language.")
    language = template["language"]
    result: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": language} if isinstance(language, str) else language,
    }
    if template.get("components"):
        result["components"] = template["components"]
    return result


# ---- responses --------------------------------------------------------------------------------

def _send_result(response: httpx.Response) -> SendResult:
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success:
        try:
            return Sent(provider_message_id=str(data["messages"][0]["id"]))
        except (TypeError, KeyError, IndexError):
            return PermanentFailure(code="delivery_unknown",
                                    message=explain("delivery_unknown", "en")
                                    + " (the answer had no message id)")
    error = data.get("error") if isinstance(data, dict) else None
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if isinstance(error, dict) and error.get("code") is not None:
        code = str(error["code"])
        detail = _detail(error)
        if (int(code) if code.isdigit() else None) in TEMPORARY_CODES or (
                error.get("is_transient") is True) or response.status_code >= 500:
            return TemporaryFailure(reason=f"{code}: {detail}", retry_after_seconds=retry_after)
        message = explain(code, "en") if code in _EXPLANATIONS else (detail or explain(code, "en"))
        return PermanentFailure(code=code, message=message)
    if response.status_code == 429 or response.status_code >= 500:
        return TemporaryFailure(reason=f"HTTP {response.status_code}",
                                retry_after_seconds=retry_after)
    # Not Meta's error object: the BSP's own (360dialog: {"meta": {"developer_message": ...}}).
    meta = data.get("meta") if isinstance(data, dict) else None
    detail = meta.get("developer_message") if isinstance(meta, dict) else None
    return PermanentFailure(code=f"http_{response.status_code}",
                            message=str(detail or explain("", "en")))


def _detail(error: dict[str, Any]) -> str:
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return str(details or error.get("message") or error.get("title") or "")


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _rehost(url: str, base_url: str) -> str:
    """``https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…`` on ``base_url``."""
    parts = urlsplit(url)
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


# ---- webhooks ---------------------------------------------------------------------------------

def parse_webhook(payload: dict[str, Any]) -> list[WebhookEvent]:
    """Every customer message, status update and template status update in a (batched) Cloud
    API webhook. Other changes (quality, category...) give nothing yet; a payload that is not the
    WhatsApp envelope, or a message without id or timestamp, is a ValueError."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("not a WhatsApp Business Account webhook")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise ValueError("WhatsApp webhook without entries")
    events: list[WebhookEvent] = []
    for entry in entries:
        for change in (entry or {}).get("changes") or []:
            if change.get("field") == "message_template_status_update":
                event = _template_status(str((entry or {}).get("id") or ""),
                                         change.get("value") or {})
                if event is not None:
                    events.append(event)
                continue
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            account_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            contacts = value.get("contacts") or []
            events.extend(_inbound(account_id, message, contacts)
                          for message in value.get("messages") or [])
            for status in value.get("statuses") or []:
                event = _status(account_id, status)
                if event is not None:
                    events.append(event)
    return events


def _required(obj: dict[str, Any], key: str) -> Any:
    if obj.get(key) in (None, ""):
        raise ValueError(f"WhatsApp webhook item without {key!r}")
    return obj[key]


def _moment(obj: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(_required(obj, "timestamp")), UTC)
    except (TypeError, OverflowError) as exc:
        raise ValueError("WhatsApp webhook item with a bad timestamp") from exc


def _inbound(account_id: str, msg: dict[str, Any],
             contacts: list[dict[str, Any]]) -> InboundEvent:
    sender = str(msg.get("from") or "")
    wa_id = sender if sender.isdigit() else None
    # The business-scoped user id (BSUID) of users who hide their number.
    user_id = msg.get("from_user_id") or (sender if sender and not wa_id else None)
    contact = next((c for c in contacts if wa_id and c.get("wa_id") == wa_id), None) or next(
        (c for c in contacts if user_id and c.get("user_id") == user_id), None) or (
        contacts[0] if len(contacts) == 1 and not sender and not user_id else {})
    wa_id = wa_id or contact.get("wa_id") or None
    handle = wa_id or user_id or contact.get("user_id")
    if not handle:
        raise ValueError("WhatsApp message without a sender")
    kind, body, media, payload = _content(msg)
    if isinstance(msg.get("context"), dict):
        payload["context"] = _context(msg["context"])
    referral = msg.get("referral")
    return InboundEvent(
        account_id=account_id, provider_message_id=str(_required(msg, "id")), handle=str(handle),
        sent_at=_moment(msg), content_kind=kind, body=body,
        phone=f"+{wa_id}" if wa_id else None,
        contact_name=((contact.get("profile") or {}).get("name") or None),
        media=media, payload=payload,
        referral=dict(referral) if isinstance(referral, dict) else None)


def _context(context: dict[str, Any]) -> dict[str, Any]:
    """The message replied to (``message_id``, sent by ``from``) and the forwarding flags."""
    result: dict[str, Any] = {}
    if context.get("id"):
        result["message_id"] = context["id"]
    for key in ("from", "forwarded", "frequently_forwarded"):
        if key in context:
            result[key] = context[key]
    return result


def _content(msg: dict[str, Any]) -> tuple[str, str, MediaRef | None, dict[str, Any]]:
    """(content kind, body, media, payload) of one message."""
    kind = str(msg.get("type") or "unsupported")
    obj = msg.get(kind)
    obj = obj if isinstance(obj, dict) else {}
    if kind == "text":
        return "text", str(obj.get("body") or ""), None, {}
    if kind in _MEDIA_KINDS and obj.get("id"):
        media = MediaRef(media_id=str(obj["id"]), mime_type=obj.get("mime_type"),
                         filename=obj.get("filename"), sha256=obj.get("sha256"))
        payload = {key: obj[key] for key in ("voice", "animated") if key in obj}
        return kind, str(obj.get("caption") or ""), media, payload
    if kind == "location":
        payload = {key: obj.get(key) for key in ("latitude", "longitude", "name", "address")}
        if obj.get("url"):
            payload["url"] = obj["url"]
        label = " — ".join(str(obj[k]) for k in ("name", "address") if obj.get(k))
        return "location", label, None, payload
    if kind == "contacts":
        cards = [c for c in msg.get("contacts") or [] if isinstance(c, dict)]
        names = [(c.get("name") or {}).get("formatted_name") for c in cards]
        return "contact", ", ".join(str(n) for n in names if n), None, {"contacts": cards}
    if kind == "interactive" and obj.get("type") in ("button_reply", "list_reply"):
        reply = obj.get(obj["type"]) or {}
        payload = {"type": obj["type"], "id": reply.get("id"), "title": reply.get("title")}
        if reply.get("description"):
            payload["description"] = reply["description"]
        return "interactive", str(reply.get("title") or ""), None, payload
    if kind == "interactive" and obj.get("type") == "nfm_reply":  # a WhatsApp Flow's answer
        reply = obj.get("nfm_reply") or {}
        return "interactive", str(reply.get("body") or ""), None, {"type": "nfm_reply", **reply}
    if kind == "button":  # the quick-reply button of a template
        payload = {"type": "button", "id": obj.get("payload"), "title": obj.get("text")}
        return "interactive", str(obj.get("text") or ""), None, payload
    if kind == "reaction":
        payload = {"message_id": obj.get("message_id"), "emoji": obj.get("emoji") or ""}
        return "reaction", payload["emoji"], None, payload
    payload = {"type": kind}
    if obj:
        payload["raw"] = obj
    if msg.get("errors"):
        payload["errors"] = msg["errors"]
    return "unsupported", "", None, payload


def _status(account_id: str, status: dict[str, Any]) -> StatusEvent | None:
    value = _STATUSES.get(str(status.get("status")))
    if value is None:  # deleted, warning... nothing we track
        return None
    error = (status.get("errors") or [{}])[0] if value == "failed" else {}
    code = error.get("code")
    return StatusEvent(
        account_id=account_id, provider_message_id=str(_required(status, "id")), status=value,
        at=_moment(status), error_code=str(code) if code is not None else None,
        error_title=(error.get("title") or error.get("message") or None),
        callback_data=status.get("biz_opaque_callback_data") or None)


def _template_status(waba_id: str, value: dict[str, Any]) -> TemplateStatusEvent | None:
    """A ``message_template_status_update`` change; None without the template's name (nothing
    to match it with) or event."""
    name, event = value.get("message_template_name"), value.get("event")
    if not name or not event:
        return None
    reason, other = value.get("reason"), value.get("other_info")
    if not reason and isinstance(other, dict):  # PAUSED and DISABLED explain themselves here
        reason = other.get("description") or other.get("title")
    template_id = value.get("message_template_id")
    return TemplateStatusEvent(
        waba_id=waba_id, template_id=str(template_id) if template_id is not None else "",
        name=str(name), language=str(value.get("message_template_language") or ""),
        status=str(event).upper(),
        reason=None if reason in (None, "", "NONE") else str(reason)[:500])
