"""Provider adapters by channel kind. Kinds without an adapter yet fail their sends visibly."""

from __future__ import annotations

from invekto.channels.adapters.base import MessagingAdapter
from invekto.channels.adapters.meta_messaging import InstagramAdapter, MessengerAdapter
from invekto.channels.adapters.netgsm import NetgsmAdapter
from invekto.channels.adapters.pbx import PbxAdapter
from invekto.channels.adapters.telegram import TelegramAdapter
from invekto.channels.adapters.twilio_sms import TwilioSmsAdapter
from invekto.channels.adapters.twilio_voice import TwilioVoiceAdapter
from invekto.channels.adapters.webchat import WebchatAdapter
from invekto.channels.adapters.whatsapp import WhatsApp360DialogAdapter, WhatsAppCloudAdapter

_ADAPTERS: dict[str, MessagingAdapter] = {adapter.kind: adapter for adapter in [
    PbxAdapter(),
    WebchatAdapter(), WhatsAppCloudAdapter(), WhatsApp360DialogAdapter(), MessengerAdapter(),
    InstagramAdapter(), TelegramAdapter(), TwilioSmsAdapter(), NetgsmAdapter(),
    TwilioVoiceAdapter()]}


def adapter_for(kind: str) -> MessagingAdapter | None:
    return _ADAPTERS.get(kind)


def register(adapter: MessagingAdapter) -> None:
    _ADAPTERS[adapter.kind] = adapter
