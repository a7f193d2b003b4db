"""A flow's message as each channel shows it: a question's options as WhatsApp reply buttons or
a list, or Telegram's inline keyboard (``inbox.service.CHOICE_KINDS``, stored provider-neutral
and written by the adapters); elsewhere (SMS, Messenger, Instagram, web chat) as numbered lines
the customer answers by number or by title (``answers.option_for``)."""

from __future__ import annotations

import uuid

from invekto.core import i18n
from invekto.core.i18n import N_
from invekto.flows.engine import Send
from invekto.inbox.schemas import Choice, Choices, ChoiceSection, MessageSend

CHOOSE_HINT = N_("Reply with the number of your choice.")


def message_for(send: Send, channel_kind: str, language: str, *,
                choice_kinds: tuple[str, ...], attachment_kind: str | None = None
                ) -> MessageSend:
    """``send`` as the message stored for ``channel_kind``. ``attachment_kind``: the file's
    message kind (image, document...) when the node sends one."""
    if not send.options:
        if send.attachment_id and attachment_kind:
            return MessageSend(body=send.text, content_kind=attachment_kind,
                               attachment_id=uuid.UUID(send.attachment_id))
        return MessageSend(body=send.text)
    if channel_kind in choice_kinds:
        buttons = [Choice(id=o["id"], title=o["title"]) for o in send.options]
        if send.style == "list":
            return MessageSend(body=send.text, content_kind="interactive", choices=Choices(
                type="list", button=send.button or i18n.text(language, "Options"),
                sections=[ChoiceSection(rows=buttons)]))
        return MessageSend(body=send.text, content_kind="interactive",
                           choices=Choices(type="buttons", buttons=buttons))
    return MessageSend(body=numbered(send, language))


def numbered(send: Send, language: str) -> str:
    lines = [f"{n}. {o['title']}" for n, o in enumerate(send.options, 1)]
    return "\n".join([send.text, "", *lines, "", i18n.text(language, CHOOSE_HINT)])
