"""The channel settings forms: what each kind of channel asks an admin for, where each answer is
kept (the channel's external id, a setting the adapter reads, or an encrypted credential), and a
posted form turned into the channels service's input. Kinds not listed here can be renamed,
switched off and deleted, not set up. Setting names are the adapters' `Dialect` fields (the web
chat's are the widget's); the defaults shown are the adapters' own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from invekto.channels.adapters.meta_messaging import GRAPH
from invekto.channels.adapters.whatsapp import CLOUD, D360
from invekto.channels.models import Channel
from invekto.channels.schemas import ChannelCreate, ChannelUpdate
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.widget.service import parse_origins

EXTERNAL_ID, SETTING, SECRET = "external_id", "settings", "credentials"
NAME_MAX, VALUE_MAX, SECRET_MAX = 100, 200, 1000


@dataclass(frozen=True)
class SetupField:
    name: str  # the form field, and its key in the channel's settings or credentials
    kept_in: str  # EXTERNAL_ID, SETTING or SECRET
    label: str  # catalogue entries (N_), translated where shown
    help: str
    required: bool = False
    placeholder: str = ""  # what a blank optional field stands for: the adapter's default
    pattern: str | None = None  # the whole value must match
    expected: str = ""  # the pattern for people, in an error ("digits only")
    url: bool = False  # an http(s) address
    origins: bool = False  # website addresses, as the chat widget checks them
    multiline: bool = False  # a paragraph (a notice shown to customers)
    max_length: int | None = None  # when longer than VALUE_MAX / SECRET_MAX

    @property
    def secret(self) -> bool:
        return self.kept_in == SECRET

    @property
    def limit(self) -> int:
        return self.max_length or (SECRET_MAX if self.secret else VALUE_MAX)


@dataclass(frozen=True)
class ChannelSetup:
    kind: str
    summary: str
    fields: tuple[SetupField, ...]


_DIGITS, _VERSION = r"[0-9]{1,40}", r"v[0-9]+(\.[0-9]+)?"
_E164 = r"\+[1-9][0-9]{6,14}"
_E164_EXPECTED = N_("a number in international form, e.g. +908501234567")
_AGENT_PHONES = rf"[a-z0-9._-]+={_E164}([ ,]+[a-z0-9._-]+={_E164})*"
_AGENT_EXTENSIONS = r"[a-z0-9._-]+=[0-9*#]{1,20}([ ,]+[a-z0-9._-]+=[0-9*#]{1,20})*"
_BOT_TOKEN = r"[0-9]{3,20}:[A-Za-z0-9_-]{20,100}"
_APP_SECRET = SetupField(
    "app_secret", SECRET, N_("App secret"),
    N_("Meta App Dashboard → App settings → Basic. Invekto checks with it that webhooks really "
       "come from Meta."), required=True)

# The Twilio account behind a number (SMS or voice): it signs the webhooks with its Auth Token.
_TWILIO_ACCOUNT = (
    SetupField("account_sid", SECRET, N_("Account SID"),
               N_("Twilio Console → Account info: starts with AC."), required=True,
               pattern=r"AC[0-9a-fA-F]{32}", expected=N_("AC and 32 hexadecimal digits")),
    SetupField("auth_token", SECRET, N_("Auth Token"),
               N_("Twilio Console → Account info. Invekto checks with it that webhooks "
                  "really come from Twilio."), required=True),
)


def _address(default: str, help_text: str = N_("Leave empty for the provider's own address.")
             ) -> SetupField:
    return SetupField("api_base_url", SETTING, N_("API address"), help_text,
                      placeholder=default, url=True)


def _version(default: str | None) -> SetupField:
    return SetupField("api_version", SETTING, N_("API version"),
                      N_("Leave empty for the version Invekto is tested with."),
                      placeholder=default or "", pattern=_VERSION,
                      expected=N_("a version such as v25.0"))


# The kinds with an adapter, in the order the form offers them.
SETUPS: dict[str, ChannelSetup] = {setup.kind: setup for setup in (
    ChannelSetup("whatsapp_cloud", N_("A WhatsApp number on Meta's Cloud API, directly."), (
        SetupField("external_id", EXTERNAL_ID, N_("Phone number ID"),
                   N_("Meta App Dashboard → WhatsApp → API Setup: the ID under the number, not "
                      "the phone number itself."), required=True, pattern=_DIGITS,
                   expected=N_("digits only")),
        SetupField("waba_id", SETTING, N_("WhatsApp Business Account ID"),
                   N_("Optional; shown on the same page."), pattern=_DIGITS,
                   expected=N_("digits only")),
        SetupField("access_token", SECRET, N_("Access token"),
                   N_("A permanent token of a system user with the whatsapp_business_messaging "
                      "permission (Meta Business Settings → System users)."), required=True),
        _APP_SECRET,
        _address(CLOUD.api_base_url),
        _version(CLOUD.api_version),
    )),
    ChannelSetup("whatsapp_bsp", N_("A WhatsApp number hosted by 360dialog."), (
        SetupField("api_key", SECRET, N_("360dialog API key (D360-API-KEY)"),
                   N_("The number's API key from the 360dialog hub."), required=True),
        SetupField("external_id", EXTERNAL_ID, N_("Phone number ID"),
                   N_("Optional. When set, only webhooks for this number are taken."),
                   pattern=_DIGITS, expected=N_("digits only")),
        _address(D360.api_base_url),
    )),
    ChannelSetup("messenger", N_("The Messenger inbox of a Facebook Page."), (
        SetupField("external_id", EXTERNAL_ID, N_("Page ID"),
                   N_("The Facebook Page's ID: Page → About → Page transparency, or Meta "
                      "Business Suite → Settings."), required=True, pattern=_DIGITS,
                   expected=N_("digits only")),
        SetupField("access_token", SECRET, N_("Page access token"),
                   N_("A long-lived Page token with the pages_messaging permission."),
                   required=True),
        _APP_SECRET,
        _address(GRAPH.api_base_url),
        _version(GRAPH.api_version),
    )),
    ChannelSetup("instagram", N_("The direct messages of an Instagram professional account."), (
        SetupField("external_id", EXTERNAL_ID, N_("Instagram account ID"),
                   N_("The professional account's ID (the one its webhooks carry), not the "
                      "@username."), required=True, pattern=_DIGITS,
                   expected=N_("digits only")),
        SetupField("access_token", SECRET, N_("Access token"),
                   N_("The Page token of the Facebook Page linked to the account, or an "
                      "Instagram token when the app uses Instagram Login."), required=True),
        _APP_SECRET,
        _address(GRAPH.api_base_url,
                 N_("Leave empty for Meta's address; https://graph.instagram.com with "
                    "Instagram Login.")),
        _version(GRAPH.api_version),
    )),
    ChannelSetup("sms_twilio", N_("SMS through a Twilio phone number."), (
        SetupField("external_id", EXTERNAL_ID, N_("Twilio phone number"),
                   N_("The number customers text, in international form, e.g. +908501234567."),
                   required=True, pattern=r"\+[1-9][0-9]{6,14}",
                   expected=N_("a number in international form, e.g. +908501234567")),
        *_TWILIO_ACCOUNT,
        SetupField("messaging_service_sid", SETTING, N_("Messaging Service SID"),
                   N_("Optional: send through a Messaging Service instead of the number."),
                   pattern=r"MG[0-9a-fA-F]{32}", expected=N_("MG and 32 hexadecimal digits")),
        _address("https://api.twilio.com"),
    )),
    ChannelSetup("sms_netgsm", N_("SMS through Netgsm. Netgsm does not notify Invekto: incoming "
                                  "SMS and delivery reports are fetched from it every minute."), (
        SetupField("usercode", SECRET, N_("Netgsm user code"),
                   N_("The subscriber number (such as 850…) or the code of an API sub-user, from "
                      "the Netgsm panel."), required=True),
        SetupField("password", SECRET, N_("Password"),
                   N_("That user's password. The user needs API access; if the account allows "
                      "only listed IP addresses, add this server's."), required=True),
        SetupField("msgheader", SETTING, N_("Sender name (message header)"),
                   N_("A sender name registered on the Netgsm account, exactly as listed there: "
                      "customers see it as the sender."), required=True, pattern=r".{1,11}",
                   expected=N_("at most 11 characters")),
        SetupField("external_id", EXTERNAL_ID, N_("Receiving number"),
                   N_("Optional: the number customers text, such as 8501234567. When set, only "
                      "SMS to this number come in on this channel."), pattern=r"[1-9][0-9]{9}",
                   expected=N_("10 digits without the leading 0, e.g. 8501234567")),
        _address("https://api.netgsm.com.tr"),
    )),
    ChannelSetup("voice", N_("Your own PBX (Asterisk, FreePBX, Verimor, Netgsm santral) reporting "
                             "its calls: they appear in the customers' threads."), (
        SetupField("originate_url", SETTING, N_("Click-to-call address"),
                   N_("Optional: where Invekto asks the PBX to connect an agent with a customer "
                      "(see docs/pbx-webhook.md). Empty: no call button."), url=True),
        SetupField("agent_extensions", SETTING, N_("Agents' extensions"),
                   N_("Optional, for click-to-call: username=extension pairs separated by "
                      "spaces, e.g. bora=101 deniz=102."), pattern=_AGENT_EXTENSIONS,
                   expected=N_("username=extension pairs, e.g. bora=101"), max_length=1000),
    )),
    ChannelSetup("voice_twilio", N_("Phone calls through a Twilio number: incoming calls ring "
                                    "the online agents of a group, and agents call customers "
                                    "from the contact card."), (
        SetupField("external_id", EXTERNAL_ID, N_("Twilio phone number"),
                   N_("The number customers call, in international form, e.g. +908501234567."),
                   required=True, pattern=_E164, expected=_E164_EXPECTED),
        *_TWILIO_ACCOUNT,
        SetupField("group", SETTING, N_("Group"),
                   N_("The group whose online agents an incoming call rings in their browsers "
                      "(Settings → Groups), by name.")),
        SetupField("api_key_sid", SETTING, N_("API key SID (for browsers)"),
                   N_("Optional: an API key (Twilio Console → API keys, starts with SK) lets the "
                      "agents' browsers ring and answer calls."), pattern=r"SK[0-9a-fA-F]{32}",
                   expected=N_("SK and 32 hexadecimal digits")),
        SetupField("api_key_secret", SECRET, N_("API key secret"),
                   N_("Shown once when the API key is made.")),
        SetupField("forward_to", SETTING, N_("Forward to"),
                   N_("Optional: the number a call goes to when nobody of the group is online; "
                      "without it the caller can leave a voicemail."), pattern=_E164,
                   expected=_E164_EXPECTED),
        SetupField("agent_phones", SETTING, N_("Agents' phones"),
                   N_("Optional, for click-to-call: username=number pairs separated by spaces, "
                      "e.g. bora=+905551112233. Twilio rings that phone first; agents not listed "
                      "are rung in their browsers."), pattern=_AGENT_PHONES,
                   expected=N_("username=number pairs, e.g. bora=+905551112233"),
                   max_length=1000),
        _address("https://api.twilio.com"),
    )),
    ChannelSetup("webchat", N_("A chat bubble on your website: visitors write to you from its "
                               "pages."), (
        SetupField("allowed_origins", SETTING, N_("Website addresses"),
                   N_("The addresses of the sites that show the chat, separated by spaces, e.g. "
                      "https://www.example.com.tr https://example.com.tr. Other sites cannot "
                      "use it."), required=True, origins=True, max_length=1000,
                   placeholder="https://www.example.com.tr"),
        SetupField("consent_text", SETTING, N_("Privacy notice (KVKK)"),
                   N_("Shown above the chat form; visitors tick a box to accept it before they "
                      "can write."), required=True, multiline=True, max_length=2000),
        SetupField("privacy_url", SETTING, N_("Privacy notice link"),
                   N_("Optional: the full notice on your site, linked under the text."),
                   url=True),
        SetupField("marketing_consent_text", SETTING, N_("Marketing consent (optional box)"),
                   N_("Optional: the consent to campaign messages visitors may tick, e.g. I "
                      "agree to receive campaigns and news by SMS and WhatsApp. Ticking it "
                      "records their message consent (and sends it to İYS when it is on)."),
                   multiline=True, max_length=1000),
        SetupField("title", SETTING, N_("Title"),
                   N_("Optional: the chat window's heading; your company's name by default.")),
        SetupField("welcome_text", SETTING, N_("Welcome message"),
                   N_("Optional: the first line visitors read, e.g. How can we help you?"),
                   multiline=True, max_length=500),
        SetupField("offline_text", SETTING, N_("Message when nobody is online"),
                   N_("Optional: shown when no agent is online; visitors can still write."),
                   multiline=True, max_length=500),
        SetupField("color", SETTING, N_("Colour"),
                   N_("Optional: the bubble's colour, e.g. #206bc4."), pattern=r"#[0-9a-fA-F]{6}",
                   expected=N_("a colour such as #206bc4"), placeholder="#206bc4"),
    )),
    ChannelSetup("telegram", N_("A Telegram bot: customers write to it in Telegram."), (
        SetupField("bot_token", SECRET, N_("Bot token"),
                   N_("From @BotFather in Telegram: /newbot (or /token for a bot you have), then "
                      "the token it gives, such as 123456789:AA…"), required=True,
                   pattern=_BOT_TOKEN, expected=N_("the token @BotFather gives (digits, a "
                                                   "colon, then letters)")),
        _address("https://api.telegram.org"),
    )),
)}


class FormInvalid(ValidationFailed):
    """Every field the form got wrong, not just the first; answered like the first alone where
    no form is drawn again (the JSON error)."""

    def __init__(self, errors: list[ValidationFailed]) -> None:
        first = errors[0]
        super().__init__(first.template, field=first.field, params=first.params)
        self.errors = errors


def create_input(form: Mapping[str, Any]) -> ChannelCreate:
    """A new channel from the "Add channel" form: its kind's fields only, blanks left out."""
    kind = _text(form, "kind")
    setup = SETUPS.get(kind)
    if setup is None:
        raise ValidationFailed("choose a kind of channel", field="kind")
    errors: list[ValidationFailed] = []
    name = _name(form, errors)
    values = {f.name: _checked(f, _text(form, f.name), errors, required=f.required)
              for f in setup.fields}
    if errors:
        raise FormInvalid(errors)
    return ChannelCreate(
        kind=kind, name=name, external_id=values.get("external_id") or None,
        settings={f.name: values[f.name] for f in setup.fields
                  if f.kept_in == SETTING and values[f.name]},
        credentials={f.name: values[f.name] for f in setup.fields
                     if f.secret and values[f.name]})


def update_input(channel: Channel, form: Mapping[str, Any]) -> ChannelUpdate:
    """A channel's edit form: its name and, for kinds set up here, their fields. A blank secret
    keeps the stored one; a blank setting goes back to the default; settings the form does not
    show are kept."""
    errors: list[ValidationFailed] = []
    name = _name(form, errors)
    setup = SETUPS.get(channel.kind)
    if setup is None:
        if errors:
            raise FormInvalid(errors)
        return ChannelUpdate(name=name)
    values = {f.name: _checked(f, _text(form, f.name), errors,
                               required=f.required and not f.secret)
              for f in setup.fields}
    if errors:
        raise FormInvalid(errors)
    settings = dict(channel.settings or {})
    for f in setup.fields:
        if f.kept_in == SETTING:
            if values[f.name]:
                settings[f.name] = values[f.name]
            else:
                settings.pop(f.name, None)
    changes: dict[str, Any] = {"name": name, "settings": settings}
    if any(f.kept_in == EXTERNAL_ID for f in setup.fields):
        changes["external_id"] = values["external_id"] or None
    secrets = {f.name: values[f.name] for f in setup.fields if f.secret and values[f.name]}
    if secrets:
        changes["credentials"] = secrets
    return ChannelUpdate(**changes)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed("expected text, not a file", field=name)
    return (value or "").replace("\r\n", "\n").strip()


def _name(form: Mapping[str, Any], errors: list[ValidationFailed]) -> str:
    name = _text(form, "name")
    if not name:
        errors.append(ValidationFailed("name is required", field="name"))
    elif len(name) > NAME_MAX:
        errors.append(_too_long("name", N_("Name"), NAME_MAX))
    return name


def _checked(field: SetupField, value: str, errors: list[ValidationFailed], *, required: bool
             ) -> str:
    """``value`` if it is fine for ``field``; otherwise the reason joins ``errors``."""
    limit = field.limit
    if not value:
        if required:
            errors.append(ValidationFailed("'%(label)s' is required", field=field.name,
                                           params={"label": field.label}))
    elif len(value) > limit:
        errors.append(_too_long(field.name, field.label, limit))
    elif field.url and not _is_http_url(value):
        errors.append(ValidationFailed("'%(label)s' must be %(expected)s", field=field.name,
                                       params={"label": field.label,
                                               "expected": N_("an http(s) URL")}))
    elif field.origins:
        try:
            return " ".join(parse_origins(value, field=field.name))
        except ValidationFailed as exc:
            errors.append(exc)
    elif field.pattern and not re.fullmatch(field.pattern, value):
        errors.append(ValidationFailed("'%(label)s' must be %(expected)s", field=field.name,
                                       params={"label": field.label,
                                               "expected": field.expected}))
    return value.rstrip("/") if field.url else value


def _too_long(name: str, label: str, limit: int) -> ValidationFailed:
    return ValidationFailed("'%(label)s' is longer than %(max)s characters", field=name,
                            params={"label": label, "max": limit})


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(
        c.isspace() for c in value)
