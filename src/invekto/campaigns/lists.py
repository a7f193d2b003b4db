"""Reading an uploaded recipient list (CSV or XLSX) into rows: which column holds the phone
and the name (guessed from the header in Turkish or English, or as the user maps them), each
phone normalised to E.164 with its own error, so a bad row is reported, not a failed upload."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from invekto.core import uploads
from invekto.core.errors import ValidationFailed
from invekto.core.i18n import N_
from invekto.core.phone import to_e164
from invekto.core.text import fold

MAX_BYTES = 20 * 1024 * 1024  # an upload (the API and the page refuse a larger one)
MAX_ROWS = 200_000
MAX_COLUMNS = 50
_PHONE_HEADERS = ("telefon", "telefon numarasi", "tel", "gsm", "cep", "cep telefonu", "phone",
                  "phone number", "mobile", "numara", "msisdn")
_NAME_HEADERS = ("ad soyad", "adi soyadi", "isim", "ad", "adi", "name", "full name",
                 "musteri", "musteri adi")


# A row's error code -> what the upload report says.
ROW_ERRORS = {"missing_phone": N_("no phone number"),
              "invalid_phone": N_("not a valid phone number"),
              "duplicate": N_("the same number as an earlier row")}


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]  # cells as text, as many as the columns


@dataclass(frozen=True)
class ParsedRow:
    row_number: int  # as a spreadsheet shows it: the header is row 1
    phone: str | None
    name: str
    values: dict[str, str]
    error: str | None


def read_table(filename: str, data: bytes) -> Table:
    """The file's header and rows. XLSX by its name or its ZIP signature, else CSV (UTF-8 with
    or without BOM, or Windows-1254 as Excel saves Turkish text; comma, semicolon or tab)."""
    uploads.check(filename, "", data)
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        rows = _xlsx_rows(data)
    else:
        rows = _csv_rows(data)
    header = next(rows, None)
    if not header or not any(cell.strip() for cell in header):
        raise ValidationFailed("the file is empty or has no header row", field="file")
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed("the file has more than %(max)s columns", field="file",
                               params={"max": MAX_COLUMNS})
    columns = _unique_names(header)
    body: list[list[str]] = []
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank lines
        if len(body) >= MAX_ROWS:
            raise ValidationFailed("the file has more than %(max)s rows", field="file",
                                   params={"max": MAX_ROWS})
        body.append((row + [""] * len(columns))[:len(columns)])
    return Table(columns, body)


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1254")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            yield [cell.strip() for cell in row]
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end...
        raise ValidationFailed("the file could not be read as CSV", field="file") from exc


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only for spreadsheets: it takes a while to import

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
        raise ValidationFailed("the file could not be read as an Excel workbook",
                               field="file") from exc
    try:
        for row in book.worksheets[0].iter_rows(values_only=True):
            yield [_cell_text(cell) for cell in row]
    finally:
        book.close()


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a phone typed as a number: 5321234567.0
    return str(cell).strip()


def _unique_names(header: list[str]) -> list[str]:
    names: list[str] = []
    for position, cell in enumerate(header, start=1):
        name = cell.strip() or f"column_{position}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def guess_columns(columns: list[str]) -> tuple[str | None, str | None]:
    """(phone column, name column) by their headers, accent- and case-folded."""
    folded = {fold(column): column for column in columns}
    phone = next((folded[h] for h in _PHONE_HEADERS if h in folded), None)
    name = next((folded[h] for h in _NAME_HEADERS if h in folded), None)
    return phone, name


def parse_rows(table: Table, phone_column: str, name_column: str | None) -> list[ParsedRow]:
    """Every row with its phone in E.164 or why not (``ROW_ERRORS``); a number seen in an
    earlier row is an error of the later row (the list is de-duplicated, and the user sees
    where)."""
    if phone_column not in table.columns:
        raise ValidationFailed("there is no column %(column)s in the file", field="phone_column",
                               params={"column": phone_column})
    if name_column and name_column not in table.columns:
        raise ValidationFailed("there is no column %(column)s in the file", field="name_column",
                               params={"column": name_column})
    phone_at = table.columns.index(phone_column)
    name_at = table.columns.index(name_column) if name_column else None
    seen: set[str] = set()
    parsed: list[ParsedRow] = []
    for offset, cells in enumerate(table.rows):
        row_number = offset + 2
        values = dict(zip(table.columns, cells, strict=True))
        raw = cells[phone_at]
        phone: str | None = None
        error: str | None = None
        if not raw:
            error = "missing_phone"
        else:
            try:
                phone = to_e164(raw)
            except ValidationFailed:
                error = "invalid_phone"
        if phone is not None and phone in seen:
            error, phone = "duplicate", None
        elif phone is not None:
            seen.add(phone)
        parsed.append(ParsedRow(row_number, phone,
                                cells[name_at][:200] if name_at is not None else "",
                                values, error))
    return parsed
