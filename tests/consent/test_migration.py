"""Migration 0032 starts the history with the consents recorded before it: one event each."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, pool, text

from invekto.db import migrate, provision


def test_consents_recorded_before_the_history_become_its_first_events(pg_server):
    url = provision.provision(pg_server, f"consent_{uuid.uuid4().hex[:8]}")
    migrate.upgrade(url, "0031")
    engine = create_engine(provision.to_sqlalchemy_url(url), poolclass=pool.NullPool)
    tenant, contact = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(text("SELECT set_config('app.scope', 'system', true)"))
        connection.execute(text("INSERT INTO tenants (id, slug, name) VALUES (:t, :s, 'Eski')"),
                           {"t": tenant, "s": f"eski-{tenant.hex[:8]}"})
        connection.execute(text(
            "INSERT INTO contacts (id, tenant_id, name, phone, email) "
            "VALUES (:c, :t, 'Ayşe', '+905321112233', 'ayse@example.com')"),
            {"c": contact, "t": tenant})
        connection.execute(text(
            "INSERT INTO contact_consents (id, tenant_id, contact_id, consent_type, granted, "
            "source, iys_status, recorded_at) VALUES "
            "(gen_random_uuid(), :t, :c, 'message', true, 'widget', 'ONAY', "
            " '2025-03-01 10:00+03'), "
            "(gen_random_uuid(), :t, :c, 'email', false, 'manual', NULL, "
            " '2025-04-01 10:00+03')"), {"c": contact, "t": tenant})
    migrate.upgrade(url)
    with engine.begin() as connection:
        connection.execute(text("SELECT set_config('app.scope', 'system', true)"))
        events = connection.execute(text(
            "SELECT consent_type, granted, source, iys_status, recipient, occurred_at, "
            "actor_kind, evidence FROM consent_events ORDER BY consent_type")).all()
    engine.dispose()
    assert [(e.consent_type, e.granted, e.source, e.iys_status, e.recipient, e.actor_kind)
            for e in events] == [
        ("email", False, "manual", None, "ayse@example.com", "system"),
        ("message", True, "widget", "ONAY", "+905321112233", "system")]
    assert events[1].occurred_at.isoformat().startswith("2025-03-01T07:00")
    assert all(e.evidence == {"recorded_before_history": True} for e in events)
