"""Trigger rules: an event, conditions, actions (see docs/architecture.md, "Automation")."""
