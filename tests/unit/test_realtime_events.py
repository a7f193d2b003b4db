"""Live events packed into notifications: under PostgreSQL's 8,000-byte limit, in order, whole."""

import uuid

from invekto.core import realtime
from invekto.core.realtime import Event


def test_a_batch_of_events_is_packed_into_notifications_under_the_limit_in_order():
    tenant = uuid.uuid4()
    events = [Event(tenant_id=tenant, type="message.created", data={
        "message_id": str(uuid.uuid4()), "n": n, "preview": "Sipariş durumu ğüşıöç " * (n % 7)},
        assignee_id=uuid.uuid4() if n % 2 else None) for n in range(400)]

    payloads = realtime._packed(event.to_json() for event in events)

    assert len(payloads) > 1
    assert all(len(payload.encode()) < 8000 for payload in payloads)
    unpacked = [e for payload in payloads for e in Event.many_from_json(payload)]
    assert unpacked == events


def test_a_single_event_is_one_notification():
    event = Event(tenant_id=uuid.uuid4(), type="presence.changed", restricted=False)
    [payload] = realtime._packed([event.to_json()])
    assert Event.many_from_json(payload) == [event]
