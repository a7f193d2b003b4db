"""The reports as tables: what the pages show and the CSV and XLSX exports hold, in the reader's
language. Durations in whole seconds, rates in percent (one decimal), as numbers a spreadsheet
can add up."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from invekto.core.i18n import N_, text
from invekto.reports.breakdowns import TITLES, Breakdown
from invekto.reports.service import AgentRow, Kpis, Overview

Unit = Literal["count", "seconds", "rate", "score"]


@dataclass(frozen=True)
class Kpi:
    key: str  # the field of ``Kpis``
    label: str
    unit: Unit
    better: Literal["higher", "lower", ""] = ""  # which way a change is good news


# The dashboard's tiles, in order; the export's summary rows.
KPIS = (
    Kpi("opened", N_("Conversations opened"), "count"),
    Kpi("closed", N_("Conversations closed"), "count", "higher"),
    Kpi("reopened", N_("Conversations reopened"), "count", "lower"),
    Kpi("messages_in", N_("Messages received"), "count"),
    Kpi("messages_out", N_("Messages sent"), "count"),
    Kpi("first_response_average", N_("First response time (average)"), "seconds", "lower"),
    Kpi("first_response_median", N_("First response time (median)"), "seconds", "lower"),
    Kpi("reply_average", N_("Reply time (average)"), "seconds", "lower"),
    Kpi("reply_median", N_("Reply time (median)"), "seconds", "lower"),
    Kpi("resolution_average", N_("Resolution time (average)"), "seconds", "lower"),
    Kpi("resolution_median", N_("Resolution time (median)"), "seconds", "lower"),
    Kpi("assignment_wait_average", N_("Wait before assignment (average)"), "seconds", "lower"),
    Kpi("transfers", N_("Transfers"), "count"),
    Kpi("csat_average", N_("Satisfaction (average score)"), "score", "higher"),
    Kpi("csat_response_rate", N_("Survey response rate"), "rate", "higher"),
    Kpi("sla_met_rate", N_("SLA met"), "rate", "higher"),
    Kpi("bot_handled", N_("Conversations with a bot"), "count"),
    Kpi("bot_containment_rate", N_("Bot containment"), "rate", "higher"),
    Kpi("bot_handoff_rate", N_("Bot handoff rate"), "rate"),
    Kpi("calls_answered", N_("Calls answered"), "count", "higher"),
    Kpi("calls_missed", N_("Calls missed"), "count", "lower"),
    Kpi("talk_seconds", N_("Talk time"), "seconds"),
)


def cell(value: float | int | None, unit: Unit) -> float | int | None:
    """A number as the tables hold it: whole seconds, percent with one decimal, a score with
    two decimals; None stays None (shown as a dash)."""
    if value is None:
        return None
    if unit == "seconds":
        return round(value)
    if unit == "rate":
        return round(value * 100, 1)
    if unit == "score":
        return round(value, 2)
    return int(value)


def kpi_value(kpis: Kpis | None, kpi: Kpi) -> float | int | None:
    return cell(getattr(kpis, kpi.key), kpi.unit) if kpis is not None else None


def _unit_suffix(language: str, unit: Unit) -> str:
    return {"seconds": text(language, "(seconds)"), "rate": "(%)"}.get(unit, "")


Table = tuple[str, Sequence[str], list[Sequence[Any]]]


def summary(overview: Overview, language: str) -> Table:
    header = [text(language, "Metric"), text(language, "This period"),
              text(language, "Previous period")]
    rows = [[f"{text(language, kpi.label)} {_unit_suffix(language, kpi.unit)}".strip(),
             kpi_value(overview.current, kpi), kpi_value(overview.previous, kpi)]
            for kpi in KPIS]
    return text(language, "Summary"), header, rows


def days(overview: Overview, language: str) -> Table:
    header = [text(language, "Day"), text(language, "Conversations opened"),
              text(language, "Conversations closed"), text(language, "Messages received"),
              text(language, "Messages sent")]
    rows = [[d.day, d.opened, d.closed, d.messages_in, d.messages_out] for d in overview.days]
    return text(language, "Days"), header, rows


def channels(overview: Overview, names: dict[uuid.UUID, str], language: str) -> Table:
    header = [text(language, "Channel"), text(language, "Conversations opened"),
              text(language, "Conversations closed"), text(language, "Messages received"),
              text(language, "Messages sent")]
    rows = [[names.get(channel_id, "—"), counts.get("conversation_opened", 0),
             counts.get("conversation_closed", 0), counts.get("message_in", 0),
             counts.get("message_out", 0)]
            for channel_id, counts in sorted(overview.by_channel.items(),
                                             key=lambda item: names.get(item[0], ""))]
    return text(language, "Channels"), header, rows


def counted(title: str, name_header: str, items: list[tuple[str, int]], language: str
            ) -> Table:
    return (text(language, title), [text(language, name_header),
                                    text(language, "Conversations")],
            [[name, count] for name, count in items])


def overview_tables(overview: Overview, channel_names: dict[uuid.UUID, str],
                    language: str) -> list[Table]:
    """Every table of the dashboard, as the XLSX export's sheets."""
    return [summary(overview, language), days(overview, language),
            channels(overview, channel_names, language),
            counted(N_("Tags"), N_("Tag"), overview.tags, language),
            referrals(overview, language)]


def referrals(overview: Overview, language: str) -> Table:
    header = [text(language, "Referral"), text(language, "Conversations"),
              text(language, "Conversions"), f"{text(language, 'Conversion rate')} (%)"]
    return text(language, "Referrals"), header, [
        [r.name, r.conversations, r.conversions, cell(r.conversions / r.conversations, "rate")]
        for r in overview.referrals]


# The agents' table: (field of AgentRow, label, unit).
AGENT_COLUMNS: tuple[tuple[str, str, Unit], ...] = (
    ("conversations", N_("Conversations"), "count"),
    ("messages", N_("Messages sent"), "count"),
    ("replies", N_("Replies"), "count"),
    ("first_response_average", N_("First response time (average)"), "seconds"),
    ("first_response_median", N_("First response time (median)"), "seconds"),
    ("reply_average", N_("Reply time (average)"), "seconds"),
    ("reply_median", N_("Reply time (median)"), "seconds"),
    ("closed", N_("Conversations closed"), "count"),
    ("resolution_average", N_("Resolution time (average)"), "seconds"),
    ("transfers_out", N_("Transferred out"), "count"),
    ("transfers_in", N_("Transferred in"), "count"),
    ("csat_average", N_("Satisfaction (average score)"), "score"),
    ("online_seconds", N_("Online time"), "seconds"),
    ("away_seconds", N_("Away time"), "seconds"),
)


def agents(rows: list[AgentRow], language: str) -> Table:
    header = [text(language, "Agent")] + [
        f"{text(language, label)} {_unit_suffix(language, unit)}".strip()
        for _field, label, unit in AGENT_COLUMNS]
    return text(language, "Agents"), header, [
        [row.name] + [cell(getattr(row, field), unit) for field, _label, unit in AGENT_COLUMNS]
        for row in rows]


# The breakdowns' columns: the tiles', and their own counts.
COLUMNS: dict[str, tuple[str, Unit]] = {
    **{kpi.key: (kpi.label, kpi.unit) for kpi in KPIS},
    "sla_first_response_met": (N_("First response within SLA"), "count"),
    "sla_first_response_breached": (N_("First response SLA breached"), "count"),
    "sla_resolution_met": (N_("Resolved within SLA"), "count"),
    "sla_resolution_breached": (N_("Resolution SLA breached"), "count"),
    "csat_asked": (N_("Surveys sent"), "count"),
    "csat_answers": (N_("Surveys answered"), "count"),
    "bot_contained": (N_("Closed by the bot alone"), "count"),
    "bot_handoffs": (N_("Handed to people"), "count"),
    "recipients": (N_("Recipients"), "count"),
    "sent": (N_("Sent"), "count"),
    "delivered": (N_("Delivered"), "count"),
    "read": (N_("Read"), "count"),
    "replied": (N_("Replied"), "count"),
    "failed": (N_("Failed"), "count"),
    "delivered_rate": (N_("Delivery rate"), "rate"),
    "read_rate": (N_("Read rate"), "rate"),
    "replied_rate": (N_("Reply rate"), "rate"),
}


def breakdown_tables(found: Breakdown, language: str) -> list[Table]:
    """A breakdown as it shows: its rows (and total), and for CSAT the scores' distribution."""
    header = [text(language, found.name_label)] + [
        f"{text(language, COLUMNS[key][0])} {_unit_suffix(language, COLUMNS[key][1])}".strip()
        for key in found.columns]
    def line(name, values: dict) -> list:
        return [name] + [cell(values[key], COLUMNS[key][1]) for key in found.columns]

    rows = [line(row.name, row.values) for row in found.rows]
    if found.total:  # the names are the company's; the total's is ours
        rows.append(line(text(language, found.total.name), found.total.values))
    result = [(text(language, TITLES[found.topic]), header, rows)]
    if found.topic == "csat":
        answered = sum(count for _score, count in found.distribution)
        result.append((text(language, "Scores"),
                       [text(language, "Score"), text(language, "Answers"), "%"],
                       [[score, count, cell(count / answered, "rate")]
                        for score, count in found.distribution]))
    return result
