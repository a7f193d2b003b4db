"""The website chat widget. There is no outside provider: the visitor's widget reads replies from
us, so handing a reply over is the moment it is stored and published."""

from __future__ import annotations

from invekto.channels.adapters.base import ChannelAccount, OutboundMessage, Sent


class WebchatAdapter:
    kind = "webchat"

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> Sent:
        return Sent(provider_message_id=f"webchat:{message.message_id}")
