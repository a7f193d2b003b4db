"""What can start a rule. Each kind is registered with the settings it takes; later modules
(appointments, orders, payments) register theirs with ``register`` and call
``automation.service.emit``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from invekto.core.i18n import N_


@dataclass(frozen=True)
class Event:
    """Something that happened in a company, as rules see it. ``rule_id``: an event meant for
    one rule only (a timer or a schedule that rule asked for); ``occurrence``: what makes such
    an event the same one if it is raised again (the rule fires once per occurrence);
    ``at``: when it happened, for business hours (a timer's or a schedule's moment; None: the
    message's time, else now)."""

    kind: str
    tenant_id: uuid.UUID
    conversation_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    data: dict = field(default_factory=dict)
    occurrence: str | None = None
    rule_id: uuid.UUID | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class EventKind:
    kind: str
    label: str  # an English catalogue entry, shown translated
    # The ``event_options`` keys a rule of this kind may (or must) set.
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    about_conversation: bool = True  # False: no conversation (contact events, schedules)
    # What the texts of a rule's messages may name of the event, beside the contact, agent and
    # company: ``{"order": ("number", "status")}`` lets a message say ``{{ order.number }}``;
    # ``text_values(data, language)`` fills those objects from the event's data.
    text_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    text_values: Callable[[dict, str], dict[str, dict[str, Any]]] | None = None

    def texts_for(self, event: Event) -> Callable[[str], dict[str, dict[str, Any]]] | None:
        """The event's objects for a text, once the company's language is known."""
        fill = self.text_values
        return None if fill is None else (lambda language: fill(event.data, language))


KINDS: dict[str, EventKind] = {}


def register(kind: EventKind) -> EventKind:
    KINDS[kind.kind] = kind
    return kind


for _kind in (
    EventKind("message_received", N_("Message received")),
    EventKind("conversation_opened", N_("Conversation opened")),
    EventKind("conversation_closed", N_("Conversation closed")),
    EventKind("conversation_assigned", N_("Conversation assigned")),
    EventKind("tag_added", N_("Tag added"), options=("tag",)),
    EventKind("tag_removed", N_("Tag removed"), options=("tag",)),
    EventKind("contact_created", N_("Contact created"), about_conversation=False),
    EventKind("contact_updated", N_("Contact updated"), about_conversation=False),
    EventKind("no_customer_reply", N_("No customer reply for N minutes"), options=("minutes",),
              required=("minutes",)),
    EventKind("no_agent_reply", N_("No agent reply for N minutes"), options=("minutes",),
              required=("minutes",)),
    EventKind("scheduled", N_("On a schedule"), options=("cron",), required=("cron",)),
    EventKind("campaign_replied", N_("Campaign replied"), options=("campaign_id",)),
):
    register(_kind)
