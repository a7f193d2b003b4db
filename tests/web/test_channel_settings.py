"""Channel settings in the browser app, over HTTP as the page sends it: adding each kind of channel
through the form, the webhook URL and secret shown once and never a credential again, refusals
drawn beside their fields in the admin's language with what was typed kept (except secrets),
editing with blank secrets kept, switching off and on, deleting (refused with conversations),
a new webhook secret, the connection test on the row, and who may do any of it."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from invekto.audit.models import AuditEvent
from invekto.channels import adapters
from invekto.channels import service as channels
from invekto.channels.adapters.whatsapp import WhatsAppCloudAdapter
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.channels.simulator import whatsapp as wa_sim
from invekto.core import i18n
from tests.factories import Company
from tests.web.test_settings_pages import (
    ESCAPED,
    HX,
    XSS,
    assert_escaped,
    assert_forbidden_page,
    db,
    error_of,
    page,
    post,
)

FORMS: dict[str, dict[str, str]] = {
    "whatsapp_cloud": {
        "kind": "whatsapp_cloud", "name": "WhatsApp · Resepsiyon",
        "external_id": "109876543210987", "waba_id": "214365870912345",
        "access_token": "EAAG-gizli-erisim-anahtari", "app_secret": "gizli-uygulama-sirri-1",
        "api_base_url": "", "api_version": ""},
    "whatsapp_bsp": {
        "kind": "whatsapp_bsp", "name": "WhatsApp · 360dialog",
        "api_key": "d360-gizli-api-anahtari", "external_id": "", "api_base_url": ""},
    "messenger": {
        "kind": "messenger", "name": "Facebook Sayfası", "external_id": "104857600123456",
        "access_token": "EAAG-gizli-sayfa-anahtari", "app_secret": "gizli-uygulama-sirri-2",
        "api_base_url": "https://graph.example.test/", "api_version": "v24.0"},
    "instagram": {
        "kind": "instagram", "name": "Instagram · @gulusdis",
        "external_id": "17841400000000001", "access_token": "IGQ-gizli-instagram-anahtari",
        "app_secret": "gizli-uygulama-sirri-3", "api_base_url": "https://graph.instagram.com",
        "api_version": ""},
    "sms_twilio": {
        "kind": "sms_twilio", "name": "SMS · Twilio", "external_id": "+908501234567",
        "account_sid": "AC" + "0123456789abcdef" * 2, "auth_token": "gizli-twilio-anahtari",
        "messaging_service_sid": "", "api_base_url": ""},
    "sms_netgsm": {
        "kind": "sms_netgsm", "name": "SMS · Netgsm", "usercode": "8503334455",
        "password": "gizli-netgsm-sifresi", "msgheader": "GULUSDIS", "external_id": "8501234567",
        "api_base_url": ""},
    "voice": {"kind": "voice", "name": "Santral",
              "originate_url": "https://pbx.example.com/originate/",
              "agent_extensions": "bora=101 deniz=102"},
    "voice_twilio": {
        "kind": "voice_twilio", "name": "Telefon · Twilio", "external_id": "+908501234568",
        "account_sid": "AC" + "fedcba9876543210" * 2, "auth_token": "gizli-twilio-ses-anahtari",
        "group": "Resepsiyon", "api_key_sid": "SK" + "0123456789abcdef" * 2,
        "api_key_secret": "gizli-tarayici-anahtari-0123456789", "forward_to": "+905441234567",
        "agent_phones": "bora=+905551112233", "api_base_url": ""},
    "telegram": {
        "kind": "telegram", "name": "Telegram · @gulus_bot",
        "bot_token": "123456789:AAgizli-telegram-bot-anahtari", "api_base_url": ""},
}
SECRETS = {"whatsapp_cloud": ("access_token", "app_secret"), "whatsapp_bsp": ("api_key",),
           "messenger": ("access_token", "app_secret"),
           "instagram": ("access_token", "app_secret"), "telegram": ("bot_token",),
           "sms_twilio": ("account_sid", "auth_token"), "sms_netgsm": ("usercode", "password"),
           "voice": (), "voice_twilio": ("account_sid", "auth_token", "api_key_secret")}
STORED = {  # kind: (external_id, settings)
    "whatsapp_cloud": ("109876543210987", {"waba_id": "214365870912345"}),
    "whatsapp_bsp": (None, {}),
    "messenger": ("104857600123456", {"api_base_url": "https://graph.example.test",
                                      "api_version": "v24.0"}),
    "instagram": ("17841400000000001", {"api_base_url": "https://graph.instagram.com"}),
    "telegram": (None, {}),
    "sms_twilio": ("+908501234567", {}),
    "sms_netgsm": ("8501234567", {"msgheader": "GULUSDIS"}),
    "voice": (None, {"originate_url": "https://pbx.example.com/originate",
                     "agent_extensions": "bora=101 deniz=102"}),
    "voice_twilio": ("+908501234568", {"group": "Resepsiyon",
                                       "api_key_sid": "SK" + "0123456789abcdef" * 2,
                                       "forward_to": "+905441234567",
                                       "agent_phones": "bora=+905551112233"}),
}
CHANNELS = "/settings/channels"
# The kinds the form offers, in its order: those above, which take webhooks, and the web chat.
OFFERED = [*list(FORMS)[:list(FORMS).index("telegram")], "webchat",
           *list(FORMS)[list(FORMS).index("telegram"):]]
WEBCHAT = {"kind": "webchat", "name": "Web sitesi",
           "allowed_origins": "https://www.gulusdis.com.tr/, HTTPS://Gulusdis.com.tr",
           "consent_text": "KVKK kapsamında verileriniz\r\nyalnızca dönüş için işlenir.",
           "privacy_url": "", "title": "", "welcome_text": "", "offline_text": "", "color": ""}


# ---- helpers -----------------------------------------------------------------------------------

def tr(message: str, **values: Any) -> str:
    """A message as the Turkish page words it (catalogue parameters translated too)."""
    return i18n.text("tr", message, **{k: i18n.text("tr", v) for k, v in values.items()})


def field_errors(html: str) -> dict[str, str]:
    """Each message drawn beside a field, by the field's element id."""
    return {m.group(1): html_lib.unescape(m.group(2).strip()) for m in re.finditer(
        r'<div class="invalid-feedback d-block" id="([^"]+)-error"[^>]*>(.*?)</div>', html,
        re.S)}


def row_of(html: str, channel_id: uuid.UUID) -> str:
    """A channel's row: from its element to the next row (or the end of the list)."""
    start = html.index(f'id="channel-{channel_id}"')
    end = html.find('<div class="list-group-item settings-row', start)
    return html[start:end if end > 0 else len(html)]


async def channel_named(company: Company, name: str) -> Channel | None:
    async def find(session, actor):
        return await session.scalar(select(Channel).where(
            Channel.tenant_id == actor.tenant_id, Channel.name == name))
    return await db(company, find)


async def channel_by_id(company: Company, channel_id: uuid.UUID) -> Channel | None:
    async def find(session, actor):
        return await session.scalar(select(Channel).where(
            Channel.tenant_id == actor.tenant_id, Channel.id == channel_id))
    return await db(company, find)


async def channel_count(company: Company) -> int:
    async def count(session, actor):
        return await session.scalar(select(func.count()).select_from(Channel).where(
            Channel.tenant_id == actor.tenant_id))
    return await db(company, count)


async def added(company: Company, kind: str = "whatsapp_cloud", **changes: str
                ) -> tuple[Channel, str]:
    """A channel added through the form as Ayla; with the webhook secret the answer showed."""
    form = {**FORMS[kind], **changes}
    response = await post(company.ayla, CHANNELS, form)
    channel = await channel_named(company, form["name"])
    assert channel is not None, response.text
    secret = channels.credentials_of(channel)[channels.WEBHOOK_SECRETS[kind]]
    assert f'value="{secret}"' in response.text
    return channel, secret


async def handshake(client: httpx.AsyncClient, channel: Channel, token: str) -> int:
    response = await client.get(f"/webhooks/{channel.kind}/{channel.id}", params={
        "hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "4242"})
    return response.status_code


def assert_no_secrets(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


# ---- adding channels ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [kind for kind in FORMS if kind in channels.WEBHOOK_KINDS])
async def test_admin_adds_each_kind_and_sees_its_webhook_secret_once(world, kind):
    home = world.home
    form = FORMS[kind]
    typed_secrets = [form[name] for name in SECRETS[kind]]
    response = await post(home.ayla, CHANNELS, form)
    html = response.text

    channel = await channel_named(home, form["name"])
    assert (channel.kind, channel.external_id, channel.settings, channel.is_active) == (
        kind, *STORED[kind], True)
    stored = channels.credentials_of(channel)
    secret_name = channels.WEBHOOK_SECRETS.get(kind)  # Twilio signs with its own Auth Token
    secret = stored[secret_name] if secret_name else None
    assert stored == {**{name: form[name] for name in SECRETS[kind]},
                      **({secret_name: secret} if secret_name else {})}
    assert secret is None or len(secret) >= 32

    # The answer: the channel listed, and once the URL and secret for the provider's console.
    assert f'id="channel-{channel.id}"' in html
    once = html[html.index('id="channel-webhook-once"'):html.index('id="channel-create-card"')]
    assert f'value="http://testserver/webhooks/{kind}/{channel.id}"' in once
    if secret:
        assert f'id="webhook-secret" value="{secret}"' in once
    else:
        assert 'id="webhook-secret"' not in once and "Twilio" in once
    assert 'id="webhook-instructions"' in once
    if kind == "whatsapp_bsp":
        assert "X-Invekto-Webhook-Token" in once
        assert "https://waba-v2.360dialog.io/v1/configs/webhook" in once
    assert_no_secrets(html, *typed_secrets)
    event = await db(home, lambda s, a: s.scalar(select(AuditEvent).where(
        AuditEvent.tenant_id == home.tenant_id, AuditEvent.action == "channel.created",
        AuditEvent.target_id == channel.id)))
    assert event.actor_id == home.ayla.user_id

    # Never again: not on the page, not in the API; the page only says the secrets are set.
    later = await page(home.ayla, CHANNELS)
    assert 'id="channel-webhook-once"' not in later
    assert_no_secrets(later, *([secret] if secret else []), *typed_secrets)
    row = row_of(later, channel.id)
    for name in SECRETS[kind]:
        assert f'data-secret="{name}" data-secret-state="set"' in row
    assert f'value="http://testserver/webhooks/{kind}/{channel.id}"' in row  # the URL stays
    for path in ("/api/v1/channels", f"/api/v1/channels/{channel.id}"):
        response = await home.ayla.client.get(path)
        assert response.status_code == 200
        assert_no_secrets(response.text, *([secret] if secret else []), *typed_secrets)
    body = (await home.ayla.client.get(f"/api/v1/channels/{channel.id}")).json()
    assert (body["has_credentials"], body["webhook_secret"]) == (True, None)


async def test_admin_adds_a_netgsm_channel_which_has_no_webhook_to_connect(world):
    home = world.home
    form = FORMS["sms_netgsm"]
    html = (await post(home.ayla, CHANNELS, form)).text
    channel = await channel_named(home, form["name"])
    assert (channel.kind, channel.external_id, channel.settings) == ("sms_netgsm",
                                                                     *STORED["sms_netgsm"])
    assert channels.credentials_of(channel) == {"usercode": "8503334455",
                                                "password": "gizli-netgsm-sifresi"}
    # Netgsm is polled: no webhook URL or token to paste anywhere.
    assert f'id="channel-{channel.id}"' in html
    assert 'id="channel-webhook-once"' not in html
    assert_no_secrets(html, "gizli-netgsm-sifresi", "8503334455")
    row = row_of(await page(home.ayla, CHANNELS), channel.id)
    for name in ("usercode", "password"):
        assert f'data-secret="{name}" data-secret-state="set"' in row
    assert "/webhooks/" not in row
    # The sender name is required and at most 11 characters.
    response = await post(home.ayla, CHANNELS, {**form, "name": "SMS 2", "msgheader": "x" * 12},
                          expect=422)
    assert list(field_errors(response.text)) == ["new-sms_netgsm-msgheader"]


async def test_the_form_offers_the_kinds_with_adapters_and_their_fields(world):
    html = await page(world.home.ayla, CHANNELS)
    form = html[html.index('id="channel-create"'):html.index('id="channel-list"')]
    assert re.findall(r'<option value="([a-z_]+)"', form) == OFFERED
    for kind, values in FORMS.items():
        group = re.search(rf'<fieldset[^>]*data-kind="{kind}".*?</fieldset>', form,
                          re.S).group(0)
        names = re.findall(r'<input[^>]*name="([a-z_]+)"', group)
        assert sorted(names) == sorted(set(values) - {"kind", "name"})
        for name in SECRETS[kind]:
            assert re.search(rf'id="new-{kind}-{name}" name="{name}"\s+type="password"', group)
    # Only the first kind's fields are sent before anything is chosen.
    opening = dict(re.findall(r'<fieldset[^>]*data-kind="([a-z_]+)"([^>]*)>', form))
    assert not opening["whatsapp_cloud"].endswith("disabled x-cloak")
    assert all(opening[kind].endswith("disabled x-cloak") for kind in list(FORMS)[1:])
    # The adapters' defaults are what a blank address or version stands for.
    assert 'placeholder="https://graph.facebook.com"' in form
    assert 'placeholder="https://waba-v2.360dialog.io"' in form
    assert 'placeholder="v25.0"' in form


async def test_bad_input_is_drawn_beside_each_field_in_turkish_keeping_what_was_typed(world):
    home = world.home
    before = await channel_count(home)
    response = await post(home.ayla, CHANNELS, {
        "kind": "whatsapp_cloud", "name": "  ", "external_id": "+90 850 123 45 67",
        "waba_id": "", "access_token": "EAAG-yazilan-gizli-anahtar", "app_secret": "",
        "api_base_url": "ftp://graph.example", "api_version": "25"}, expect=422)
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    errors = field_errors(html)
    assert set(errors) == {"new-channel-name", "new-whatsapp_cloud-external_id",
                           "new-whatsapp_cloud-app_secret", "new-whatsapp_cloud-api_base_url",
                           "new-whatsapp_cloud-api_version"}
    assert errors["new-channel-name"] == "Ad zorunludur"
    assert errors["new-whatsapp_cloud-api_base_url"].endswith(
        "için beklenen değer: http(s) ile başlayan bir adres")
    assert errors["new-whatsapp_cloud-external_id"] == tr(
        "'%(label)s' must be %(expected)s", label="Phone number ID", expected="digits only")
    assert errors["new-whatsapp_cloud-api_version"] == tr(
        "'%(label)s' must be %(expected)s", label="API version",
        expected="a version such as v25.0")
    assert errors["new-whatsapp_cloud-app_secret"] == tr("'%(label)s' is required",
                                                         label="App secret")
    # Each input is marked and points at its message.
    assert re.search(r'<input class="form-control is-invalid" id="new-whatsapp_cloud-external_id"'
                     r'[^>]*aria-describedby="new-whatsapp_cloud-external_id-error"', html, re.S)
    # What was typed is kept, except the secret; the form stays open on the chosen kind.
    assert 'value="+90 850 123 45 67"' in html
    assert 'value="ftp://graph.example"' in html
    assert 'value="25"' in html
    assert "EAAG-yazilan-gizli-anahtar" not in html
    assert '<option value="whatsapp_cloud" selected>' in html
    assert 'id="channel-create-card" open' in html
    assert 'id="channel-create-errors"' in html
    assert await channel_count(home) == before


async def test_a_taken_name_is_refused_beside_the_name(world):
    home = world.home
    response = await post(home.ayla, CHANNELS, {**FORMS["messenger"], "name": "Web"},
                          expect=409)
    assert field_errors(response.text) == {"new-channel-name": "'Web' adlı bir kanal zaten var"}
    assert '<option value="messenger" selected>' in response.text
    assert 'value="104857600123456"' in response.text
    assert await channel_count(home) == 1


async def test_an_english_speaking_admin_gets_english_errors(world):
    home = world.home
    response = await home.ayla.client.post("/me/language", data={"language": "en"})
    assert response.status_code == 303
    response = await post(home.ayla, CHANNELS, {**FORMS["whatsapp_bsp"], "name": "",
                                                "api_key": ""}, expect=422)
    assert field_errors(response.text) == {
        "new-channel-name": "name is required",
        "new-whatsapp_bsp-api_key": "'360dialog API key (D360-API-KEY)' is required"}
    response = await post(home.ayla, CHANNELS, {**FORMS["whatsapp_bsp"], "name": "Web"},
                          expect=409)
    assert field_errors(response.text) == {"new-channel-name": "a channel named 'Web' exists"}
    # The page around the form is English too.
    assert ">Add channel<" in response.text


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "fax", "name": "SMS"}, "kind"),
    ({"kind": "", "name": "Boş"}, "kind"),
    ({**FORMS["messenger"], "name": "x" * 101}, "name"),
    ({**FORMS["messenger"], "access_token": "x" * 1001}, "access_token"),
    ({**FORMS["instagram"], "external_id": "@gulusdis"}, "external_id"),
    ({**FORMS["whatsapp_bsp"], "api_base_url": "waba-v2.360dialog.io"}, "api_base_url"),
    ({**FORMS["voice_twilio"], "forward_to": "0544 123 45 67"}, "forward_to"),
    ({**FORMS["voice_twilio"], "agent_phones": "bora 05551112233"}, "agent_phones"),
    ({**FORMS["voice"], "agent_extensions": "bora:101"}, "agent_extensions"),
    ({**FORMS["voice"], "originate_url": "pbx.example.com/originate"}, "originate_url"),
])
async def test_other_bad_input_names_its_field(world, data, field):
    response = await post(world.home.ayla, CHANNELS, data, expect=422)
    errors = field_errors(response.text)
    assert [key for key in errors if key.endswith(f"-{field}") or key.endswith(
        f"-channel-{field}")], errors
    assert await channel_count(world.home) == 1


# ---- editing -----------------------------------------------------------------------------------

async def test_admin_edits_a_channel_and_a_blank_secret_keeps_the_stored_one(world):
    home = world.home
    channel, secret = await added(home)
    # A setting the form does not show (set through the API) must survive the form.
    await db(home, lambda s, a: channels.update_channel(s, a, channel.id, ChannelUpdate(
        settings={**channel.settings, "rewrite_media_host": False})))
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}", {
        "name": "WhatsApp · Yeni", "external_id": "109876543210988", "waba_id": "",
        "access_token": "", "app_secret": "yeni-uygulama-sirri",
        "api_base_url": "http://graph.simulator/", "api_version": "v24.0"})
    html = response.text
    assert "data-saved" in row_of(html, channel.id)
    changed = await channel_by_id(home, channel.id)
    assert (changed.name, changed.external_id) == ("WhatsApp · Yeni", "109876543210988")
    assert changed.settings == {"rewrite_media_host": False,
                                "api_base_url": "http://graph.simulator",
                                "api_version": "v24.0"}
    assert channels.credentials_of(changed) == {
        "access_token": FORMS["whatsapp_cloud"]["access_token"],
        "app_secret": "yeni-uygulama-sirri", "verify_token": secret}
    assert_no_secrets(html, secret, "yeni-uygulama-sirri",
                      FORMS["whatsapp_cloud"]["access_token"])
    row = row_of(html, channel.id)
    assert 'value="http://graph.simulator"' in row
    assert 'data-secret="access_token" data-secret-state="set"' in row
    # The webhook still answers with the secret it had.
    assert await handshake(home.ayla.client, changed, secret) == 200


async def test_a_refused_edit_is_drawn_open_beside_the_field(world):
    home = world.home
    channel, _ = await added(home, "messenger")
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}", {
        "name": "Yeni sayfa adı", "external_id": "sayfa", "access_token": "EAAG-yeni-gizli",
        "app_secret": "", "api_base_url": "", "api_version": ""}, expect=422)
    html = response.text
    assert field_errors(html) == {f"channel-{channel.id}-external_id": tr(
        "'%(label)s' must be %(expected)s", label="Page ID", expected="digits only")}
    row = row_of(html, channel.id)
    assert "x-data=\"{ editing: true }\"" in row
    assert 'value="Yeni sayfa adı"' in row and 'value="sayfa"' in row
    assert "EAAG-yeni-gizli" not in html
    unchanged = await channel_by_id(home, channel.id)
    assert (unchanged.name, unchanged.external_id) == (FORMS["messenger"]["name"],
                                                       FORMS["messenger"]["external_id"])
    # A name another channel has: beside the name, nothing changed.
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}", {
        "name": "Web", "external_id": "104857600123456"}, expect=409)
    assert field_errors(response.text) == {
        f"channel-name-{channel.id}": "'Web' adlı bir kanal zaten var"}


async def test_a_channel_whose_kind_asks_nothing_can_be_renamed(world):
    home = world.home
    pbx, _ = await added(home, "voice")
    response = await post(home.ayla, f"{CHANNELS}/{pbx.id}", {"name": "Çağrı merkezi"})
    assert "Çağrı merkezi" in row_of(response.text, pbx.id)
    assert (await channel_by_id(home, pbx.id)).name == "Çağrı merkezi"
    response = await post(home.ayla, f"{CHANNELS}/{pbx.id}", {"name": ""}, expect=422)
    assert field_errors(response.text) == {f"channel-name-{pbx.id}": "Ad zorunludur"}


async def test_admin_adds_a_web_chat_and_gets_the_code_for_the_website(world):
    home = world.home
    response = await post(home.ayla, CHANNELS, WEBCHAT)
    channel = await channel_named(home, "Web sitesi")
    # The sites as browsers name them; the notice with its lines.
    assert channel.settings == {
        "allowed_origins": "https://www.gulusdis.com.tr https://gulusdis.com.tr",
        "consent_text": "KVKK kapsamında verileriniz\nyalnızca dönüş için işlenir."}
    once = response.text[response.text.index('id="channel-widget-once"'):]
    assert (f'&lt;script src="http://testserver/widget.js" data-channel="{channel.id}" '
            'async&gt;&lt;/script&gt;') in once
    row = row_of(await page(home.ayla, CHANNELS), channel.id)
    assert f'data-widget-snippet="{channel.id}"' in row
    assert re.search(r'<textarea[^>]*name="consent_text"[^>]*>KVKK kapsamında', row)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"allowed_origins": "www.gulusdis.com.tr"}, "allowed_origins",
     "'www.gulusdis.com.tr' https://www.example.com.tr gibi bir web sitesi adresi değil"),
    ({"allowed_origins": "https://gulusdis.com.tr/iletisim"}, "allowed_origins",
     "'https://gulusdis.com.tr/iletisim' https://www.example.com.tr gibi bir web sitesi adresi "
     "değil"),
    ({"consent_text": ""}, "consent_text", "'Aydınlatma metni (KVKK)' zorunludur"),
    ({"color": "yeşil"}, "color", "'Renk' için beklenen değer: #206bc4 gibi bir renk"),
])
async def test_a_web_chat_with_bad_settings_is_refused_beside_the_field(world, changes, field,
                                                                        message):
    response = await post(world.home.ayla, CHANNELS, {**WEBCHAT, **changes}, expect=422)
    assert field_errors(response.text) == {f"new-webchat-{field}": message}


# ---- switching off and on, deleting, a new webhook secret --------------------------------------

async def test_admin_deactivates_and_reactivates_a_channel(world, client):
    home = world.home
    channel, secret = await added(home)
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/active", {"is_active": "false"})
    assert 'data-active="false"' in row_of(response.text, channel.id)
    assert 'data-status="inactive"' in row_of(response.text, channel.id)
    assert (await channel_by_id(home, channel.id)).is_active is False
    assert await handshake(client, channel, secret) == 404  # takes no webhooks now
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/active", {"is_active": "true"})
    assert 'data-active="true"' in row_of(response.text, channel.id)
    assert (await channel_by_id(home, channel.id)).is_active is True
    assert await handshake(client, channel, secret) == 200
    error = error_of(await post(home.ayla, f"{CHANNELS}/{channel.id}/active",
                                {"is_active": "belki"}, expect=422))
    assert error["field"] == "is_active"


async def test_admin_deletes_a_channel_without_conversations(world):
    home = world.home
    channel, _ = await added(home, "instagram")
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/delete")
    assert f'id="channel-{channel.id}"' not in response.text
    assert await channel_by_id(home, channel.id) is None


async def test_deleting_a_channel_with_conversations_is_refused_with_the_offer_to_deactivate(
        world):
    home = world.home
    await home.inbound("Merhaba")  # a conversation on the web chat channel
    response = await post(home.ayla, f"{CHANNELS}/{home.channel_id}/delete", expect=409)
    assert response.headers["content-type"].startswith("text/html")
    row = row_of(response.text, home.channel_id)
    refusal = re.search(r'<div class="alert alert-warning[^"]*" role="alert" '
                        r'id="channel-delete-refused">.*?</div>\s*</div>', row, re.S).group(0)
    assert "Bu kanalda konuşmalar var; bunun yerine kanalı devre dışı bırakın" in refusal
    assert f'hx-post="/settings/channels/{home.channel_id}/active"' in refusal
    assert "is_active\": \"false\"" in html_lib.unescape(refusal)
    assert (await channel_by_id(home, home.channel_id)).is_active is True
    # Taking the offer.
    await post(home.ayla, f"{CHANNELS}/{home.channel_id}/active", {"is_active": "false"})
    assert (await channel_by_id(home, home.channel_id)).is_active is False


async def test_a_new_webhook_secret_is_shown_once_and_the_old_one_stops_working(world, client):
    home = world.home
    channel, old = await added(home, "messenger")
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/webhook-secret")
    new = channels.credentials_of(await channel_by_id(home, channel.id))["verify_token"]
    assert new != old
    assert f'id="webhook-secret" value="{new}"' in response.text
    assert old not in response.text
    assert await handshake(client, channel, old) == 403
    assert await handshake(client, channel, new) == 200
    later = await page(home.ayla, CHANNELS)
    assert new not in later and 'id="channel-webhook-once"' not in later
    # The other secrets are untouched.
    stored = channels.credentials_of(await channel_by_id(home, channel.id))
    assert stored["access_token"] == FORMS["messenger"]["access_token"]
    error = error_of(await post(home.ayla, f"{CHANNELS}/{home.channel_id}/webhook-secret",
                                expect=422))
    assert error["field"] == "channel_id"  # the web chat has no webhook


# ---- the connection test -----------------------------------------------------------------------

@pytest.fixture
async def cloud_simulator():
    simulator = wa_sim.create_simulator("s", access_token=FORMS["whatsapp_cloud"]["access_token"])
    original = adapters.adapter_for("whatsapp_cloud")
    adapters.register(WhatsAppCloudAdapter(transport=httpx.ASGITransport(app=simulator)))
    yield simulator
    adapters.register(original)


async def test_the_connection_test_answers_on_the_row(world, cloud_simulator):
    home = world.home
    channel, _ = await added(home, api_base_url="http://graph.simulator")
    html = await page(home.ayla, CHANNELS)
    assert f'hx-post="/settings/channels/{channel.id}/test"' in row_of(html, channel.id)
    assert f'hx-target="#channel-test-{channel.id}"' in row_of(html, channel.id)
    # The web chat has nothing to test.
    assert 'data-action="test"' not in row_of(html, home.channel_id)
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/test")
    assert 'data-ok="true"' in response.text
    assert "Bağlantı çalışıyor." in response.text
    assert f"{wa_sim.VERIFIED_NAME} · {wa_sim.DISPLAY_PHONE_FORMATTED}" in response.text

    await db(home, lambda s, a: channels.update_channel(s, a, channel.id, ChannelUpdate(
        credentials={"access_token": "EAAG-eskimis"})))
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}/test")
    assert 'data-ok="false" data-error-code="190"' in response.text
    assert ("WhatsApp erişim anahtarının süresi dolmuş ya da geçersiz" in
            html_lib.unescape(response.text))
    assert "EAAG-eskimis" not in response.text


# ---- who may, whose channels, CSRF, escaping ---------------------------------------------------

async def test_only_admins_manage_channels(world):
    home = world.home
    channel, _ = await added(home)
    calls = [(CHANNELS, {**FORMS["messenger"]}),
             (CHANNELS, {"kind": "whatsapp_cloud", "name": ""}),  # invalid: still a 403
             (f"{CHANNELS}/{channel.id}", {"name": "Ele geçirildi"}),
             (f"{CHANNELS}/{channel.id}/active", {"is_active": "false"}),
             (f"{CHANNELS}/{channel.id}/delete", {}),
             (f"{CHANNELS}/{channel.id}/webhook-secret", {}),
             (f"{CHANNELS}/{channel.id}/test", {})]
    for person in (home.sevgi, home.bora, home.deniz):
        assert_forbidden_page(await person.client.get(CHANNELS))
        for path, data in calls:
            response = await post(person, path, data, expect=403)
            assert error_of(response)["code"] == "forbidden"
    after = await channel_by_id(home, channel.id)
    assert (after.name, after.is_active) == (FORMS["whatsapp_cloud"]["name"], True)
    assert channels.credentials_of(after) == channels.credentials_of(channel)
    assert await channel_count(home) == 2


async def test_another_companys_channels_are_not_found(world):
    home, charlie = world.home, world.charlie
    theirs = charlie.channel_id
    for path, data in [(f"{CHANNELS}/{theirs}", {"name": "Ele geçirildi"}),
                       (f"{CHANNELS}/{theirs}/active", {"is_active": "false"}),
                       (f"{CHANNELS}/{theirs}/delete", {}),
                       (f"{CHANNELS}/{theirs}/webhook-secret", {}),
                       (f"{CHANNELS}/{theirs}/test", {})]:
        assert error_of(await post(home.ayla, path, data, expect=404))["code"] == "not_found"
    channel = await channel_by_id(charlie, theirs)
    assert (channel.name, channel.is_active) == ("Web", True)


async def test_changes_need_the_csrf_token(world):
    home = world.home
    ayla = home.ayla
    response = await ayla.client.post(CHANNELS, data=FORMS["whatsapp_cloud"],
                                      headers={**HX, "x-csrf-token": "yanlis"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=home.app),
                                 base_url="http://testserver",
                                 cookies=ayla.client.cookies) as browser:
        response = await browser.post(CHANNELS, data=FORMS["whatsapp_bsp"])
        assert response.status_code == 403
        response = await browser.post(f"{CHANNELS}/{home.channel_id}/active",
                                      data={"is_active": "false"})
        assert response.status_code == 403
        assert await channel_count(home) == 1
        response = await browser.post(CHANNELS, data={**FORMS["whatsapp_bsp"],
                                                      "csrf_token": ayla.csrf})
        assert response.status_code == 200, response.text
    assert await channel_named(home, FORMS["whatsapp_bsp"]["name"]) is not None
    assert (await channel_by_id(home, home.channel_id)).is_active is True


async def test_what_admins_type_is_escaped(world):
    home = world.home
    response = await post(home.ayla, CHANNELS, {**FORMS["messenger"], "name": XSS})
    assert_escaped(response.text)
    assert f'value="{ESCAPED}"' in response.text  # the edit form's name
    assert_escaped(await page(home.ayla, CHANNELS))
    response = await post(home.ayla, CHANNELS, {**FORMS["instagram"], "external_id": XSS},
                          expect=422)
    assert_escaped(response.text)
    channel = await channel_named(home, XSS)
    response = await post(home.ayla, f"{CHANNELS}/{channel.id}", {
        "name": XSS, "external_id": XSS}, expect=422)
    assert_escaped(response.text)


async def test_the_api_can_create_what_the_page_lists(world):
    """Channels made through the API (no form) show in the list with what they have."""
    home = world.home
    channel = await db(home, lambda s, a: channels.create_channel(s, a, ChannelCreate(
        kind="whatsapp_bsp", name="API kanalı", credentials={"api_key": "d360-api-ile"})))
    row = row_of(await page(home.ayla, CHANNELS), channel.id)
    assert 'data-secret="api_key" data-secret-state="set"' in row
    assert "d360-api-ile" not in row
