"""Tables as files people open: CSV (UTF-8 with a BOM, so Excel shows Turkish letters) and
XLSX (openpyxl, write-only). One place for every export (campaign reports, the reports)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


_PHONE = re.compile(r"^\+\d{6,15}$")


def _cell(value: Any, zone: tzinfo) -> Any:
    """Spreadsheets have no time zones: instants as the company's wall-clock time."""
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(zone).replace(tzinfo=None, microsecond=0)
    return "" if value is None else value


def _not_a_formula(value: Any, starts: tuple[str, ...]) -> Any:
    """A text a spreadsheet would run as a formula (CSV injection), kept as text with a
    leading apostrophe; an E.164 phone number is left as it is."""
    if isinstance(value, str) and value.startswith(starts) and not _PHONE.match(value):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], *, zone: tzinfo = UTC
           ) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_not_a_formula(_cell(v, zone), ("=", "+", "-", "@")) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "Sheet",
            zone: tzinfo = UTC) -> bytes:
    return to_workbook([(title, header, rows)], zone=zone)


def to_workbook(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]], *,
                zone: tzinfo = UTC) -> bytes:
    """An XLSX file with a sheet per (title, header, rows)."""
    from openpyxl import Workbook  # only when exporting: a slow import

    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        sheet.append(list(header))
        for row in rows:  # openpyxl stores a text starting with "=" as a formula
            sheet.append([_not_a_formula(_cell(v, zone), ("=",)) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export(fmt: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *,
           title: str = "Sheet", zone: tzinfo = UTC) -> tuple[bytes, str]:
    """(the file, its media type) in ``fmt`` (csv or xlsx)."""
    if fmt == "xlsx":
        return to_xlsx(header, rows, title=title, zone=zone), XLSX_TYPE
    return to_csv(header, rows, zone=zone), CSV_TYPE
