"""Uploaded documents into knowledge-base articles, and articles into chunks for search.

Both halves are pure functions: no database, no I/O beyond the bytes handed in. A company
uploads a PDF, a Word file (.docx), plain text, Markdown, or a CSV of question/answer pairs;
``read_document`` turns it into articles (one, or one FAQ pair per CSV row) or refuses it with
a ``ValidationFailed`` on the field "file". ``chunk_article`` cuts an article into the pieces
that are embedded (multilingual-e5-small reads at most 512 tokens and works best on ~100-250
words) and searched: each piece ends at a heading, paragraph or sentence, repeats the tail of
the one before so a fact cut in two is whole in one of them, and starts with the article's
title so it still says what it is about when found on its own."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Literal

import docx
from docx.table import Table
from pypdf import PasswordType, PdfReader

from invekto.core import uploads
from invekto.core.errors import ValidationFailed
from invekto.core.text import fold

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_CSV_ROWS = 5_000
MAX_TITLE_CHARS = 200
# Uncompressed size a .docx may claim: far above any real document, well below what a zip
# bomb would need to exhaust memory.
_MAX_DOCX_UNPACKED_BYTES = 20 * MAX_DOCUMENT_BYTES

_FIELD = "file"


@dataclass(frozen=True)
class ParsedArticle:
    kind: Literal["article", "faq"]
    title: str
    body: str


def read_document(filename: str, data: bytes) -> list[ParsedArticle]:
    """The articles in an uploaded file. The content decides the reader when it can (a PDF or a
    Word file renamed .txt is still read as what it is), then the file name's extension."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValidationFailed("the file is larger than %(max)s MB", field=_FIELD,
                               params={"max": MAX_DOCUMENT_BYTES // (1024 * 1024)})
    if not data.strip():
        raise ValidationFailed("the file is empty", field=_FIELD)
    uploads.check(filename, "", data, field=_FIELD)
    name = _base_name(filename)
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if b"%PDF-" in data[:1024]:  # the header may follow a little junk, as readers allow
        return [_read_pdf(name, data)]
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return [_read_docx(name, data)]
    elif extension in ("txt", "text", "md", "markdown"):
        return [_read_text(name, data)]
    elif extension == "csv":
        return _read_csv(data)
    if extension in ("pdf", "docx"):
        raise ValidationFailed("the file could not be read: it is damaged or not what its "
                               "name says", field=_FIELD)
    raise ValidationFailed("this kind of file cannot be read: upload a PDF, Word (.docx), "
                           "text, Markdown or CSV file", field=_FIELD)


# --- plain text and Markdown ---------------------------------------------------------------

_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")


def _read_text(name: str, data: bytes) -> ParsedArticle:
    text = _decode(data)
    if not text:
        raise ValidationFailed("no text was found in the file", field=_FIELD)
    lines = text.split("\n")
    title = ""
    for line in lines:  # the document's own title: its first top-level Markdown heading
        heading = _ATX_HEADING.match(line)
        if heading and len(heading.group(1)) == 1 and heading.group(2):
            title = _clip_title(heading.group(2))
            break
    if not title:
        first = next(line.strip() for line in lines if line.strip())
        heading = _ATX_HEADING.match(first)
        first = heading.group(2) if heading else first
        # A long first line is a paragraph, not a title.
        title = first if len(first) <= MAX_TITLE_CHARS else ""
    return ParsedArticle("article", title or _title_from_name(name), text)


def _decode(data: bytes) -> str:
    """Text in the encodings Turkish files come in: UTF-8 (with or without the BOM Windows
    Notepad writes), UTF-16 with its BOM (Excel's "Unicode text"), else Windows-1254 (Turkish
    Windows, Excel's CSV), else Latin-1, which decodes any bytes. Binary content is refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ValidationFailed("the file could not be read as text",
                                   field=_FIELD) from None
    else:
        if b"\x00" in data:  # no text encoding we accept has NUL bytes; binary files do
            raise ValidationFailed("the file could not be read as text", field=_FIELD)
        for encoding in ("utf-8-sig", "cp1254", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t\f")
    if controls > max(8, len(text) // 100):
        raise ValidationFailed("the file could not be read as text", field=_FIELD)
    return "".join(ch for ch in text
                   if unicodedata.category(ch) != "Cc" or ch in "\n\t").strip()


# --- PDF -----------------------------------------------------------------------------------

def _read_pdf(name: str, data: bytes) -> ParsedArticle:
    # pypdf is a third-party parser fed untrusted bytes: whatever it raises on a damaged file
    # means the same to the company, "this file cannot be read".
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            # An empty user password (only printing or copying restricted) opens like any
            # viewer would; a real password we do not have.
            raise ValidationFailed("the PDF is protected by a password: upload it without "
                                   "the password", field=_FIELD)
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata_title = (reader.metadata.title or "") if reader.metadata else ""
    except ValidationFailed:
        raise
    except Exception:
        raise ValidationFailed("the PDF could not be read", field=_FIELD) from None
    body = _tidy_pdf_text(pages)
    if not body:
        raise ValidationFailed("no text was found in the file (a scanned PDF holds only "
                               "images of text)", field=_FIELD)
    title = _clip_title(" ".join(str(metadata_title).split()))
    if not _is_meaningful_title(title):
        first = body.split("\n", 1)[0].strip()
        title = first if len(first) <= MAX_TITLE_CHARS else _title_from_name(name)
    return ParsedArticle("article", title, body)


_SPACES = re.compile(r"[^\S\n]+")
_PAGE_NUMBER = re.compile(r"^(?:-\s*)?\d{1,4}(?:\s*-)?$|^(?:sayfa|page)\s+\d{1,4}"
                          r"(?:\s*/\s*\d{1,4})?$", re.IGNORECASE)
_SENTENCE_FINAL = ".!?…:;"


def _tidy_pdf_text(pages: list[str]) -> str:
    """Text as extracted from PDF pages made readable: one space between words, page numbers
    dropped, words hyphenated at a line end joined again, and lines that only wrap a sentence
    (the next starts in lower case) joined into it, so the body reads as paragraphs."""
    lines: list[str] = []
    for page in pages:
        page_lines = [_SPACES.sub(" ", line).strip()
                      for line in page.replace("\u00ad", "").replace("\r", "\n").split("\n")]
        page_lines = [line for line in page_lines if line]
        while page_lines and _PAGE_NUMBER.match(page_lines[-1]):
            page_lines.pop()
        while page_lines and _PAGE_NUMBER.match(page_lines[0]):
            page_lines.pop(0)
        lines.extend(page_lines)
    merged: list[str] = []
    for line in lines:
        if merged and line[0].islower():
            previous = merged[-1]
            if previous.endswith("-") and len(previous) > 1 and previous[-2].isalpha():
                merged[-1] = previous[:-1] + line
                continue
            if previous[-1] not in _SENTENCE_FINAL:
                merged[-1] = f"{previous} {line}"
                continue
        merged.append(line)
    return "\n".join(merged).strip()


def _is_meaningful_title(title: str) -> bool:
    # Producers fill the title with the source file's name or a placeholder.
    lowered = title.lower()
    return bool(title) and lowered not in ("untitled", "başlıksız", "document") and not (
        lowered.endswith((".doc", ".docx", ".pdf", ".txt", ".odt", ".rtf")))


# --- Word (.docx) --------------------------------------------------------------------------

def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _read_docx(name: str, data: bytes) -> ParsedArticle:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > _MAX_DOCX_UNPACKED_BYTES:
            raise ValidationFailed("the Word document could not be read", field=_FIELD)
        document = docx.Document(io.BytesIO(data))
        blocks, heading_title = _docx_blocks(document)
        core_title = document.core_properties.title or ""
    except ValidationFailed:
        raise
    except Exception:  # python-docx on untrusted bytes, as for PDFs above
        raise ValidationFailed("the Word document could not be read", field=_FIELD) from None
    body = "\n\n".join(blocks).strip()
    if not body:
        raise ValidationFailed("no text was found in the file", field=_FIELD)
    title = heading_title or _clip_title(" ".join(core_title.split()))
    if not _is_meaningful_title(title):
        title = _title_from_name(name)
    return ParsedArticle("article", title, body)


def _docx_blocks(document) -> tuple[list[str], str]:
    """The document's paragraphs and tables in order, as Markdown-like blocks: headings as
    ``#`` lines (so chunking can split at them), list items as ``-`` lines, a table as one
    line a row, cells split by " | ". Also the first heading's text, the document's title."""
    blocks: list[str] = []
    title = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = _docx_table_rows(item)
            if rows:
                blocks.append("\n".join(rows))
            continue
        text = " ".join(item.text.split())
        if not text:
            continue
        level = _heading_level(item)
        if level:
            title = title or _clip_title(text)
            blocks.append(f"{'#' * level} {text}")
        elif _style_name(item).lower().startswith("list"):
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    return blocks, title


def _docx_table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell comes back once per column it spans
                continue
            seen.add(id(cell._tc))
            parts = []
            for inner in cell.iter_inner_content():
                if isinstance(inner, Table):
                    parts.extend(_docx_table_rows(inner))
                else:
                    parts.append(" ".join(inner.text.split()))
            text = " ".join(part for part in parts if part)
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _style_name(paragraph) -> str:
    style = paragraph.style
    return (style.name or "") if style is not None else ""


def _heading_level(paragraph) -> int:
    """Markdown heading level of a Title (1) or "Heading n" (n + 1) paragraph, else 0."""
    name = _style_name(paragraph)
    if name == "Title":
        return 1
    found = re.fullmatch(r"Heading\s*(\d)", name)
    return min(int(found.group(1)) + 1, 6) if found else 0


# --- CSV of question/answer pairs ----------------------------------------------------------

# Header names, folded ("Yanıt" and "YANIT" are "yanit").
_QUESTION_HEADERS = {"question", "questions", "soru", "sorular", "q"}
_ANSWER_HEADERS = {"answer", "answers", "cevap", "cevaplar", "yanit", "yanitlar", "a"}
_DELIMITERS = ("\t", ";", ",")  # on a tie, the one least likely inside a sentence wins


def _read_csv(data: bytes) -> list[ParsedArticle]:
    text = _decode(data)
    if not text:
        raise ValidationFailed("no text was found in the file", field=_FIELD)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=_csv_delimiter(text)))
    except csv.Error:  # a field over the csv module's size limit, a stray NUL
        raise ValidationFailed("the CSV file could not be read", field=_FIELD) from None
    if max((len(row) for row in rows), default=0) < 2:
        raise ValidationFailed("the CSV file needs two columns: the question and the answer",
                               field=_FIELD)
    question_at, answer_at, first_data_row = 0, 1, 0
    header = [fold(cell) for cell in rows[0]] if rows else []
    named_question = next((i for i, cell in enumerate(header) if cell in _QUESTION_HEADERS), None)
    named_answer = next((i for i, cell in enumerate(header) if cell in _ANSWER_HEADERS), None)
    if named_question is not None or named_answer is not None:
        # A header naming one of the two: the other is the first column it does not name.
        first_data_row = 1
        others = [i for i in range(len(header)) if i not in (named_question, named_answer)]
        others.append(len(header))  # none left: a column no row has, so every answer is empty
        question_at = named_question if named_question is not None else others[0]
        answer_at = named_answer if named_answer is not None else others[0]
    numbered = [(number, row) for number, row in enumerate(rows, start=1)
                if number > first_data_row and any(cell.strip() for cell in row)]
    if len(numbered) > MAX_CSV_ROWS:
        raise ValidationFailed("the CSV file has more than %(max)s rows", field=_FIELD,
                               params={"max": MAX_CSV_ROWS})
    articles = []
    for number, row in numbered:
        question = _cell(row, question_at)
        answer = _cell(row, answer_at)
        if not question and not answer:
            continue  # text only in other columns (a note, a category): not a pair
        if not answer:
            raise ValidationFailed("row %(row)s has a question but no answer", field=_FIELD,
                                   params={"row": number})
        if not question:
            raise ValidationFailed("row %(row)s has an answer but no question", field=_FIELD,
                                   params={"row": number})
        articles.append(ParsedArticle("faq", question, answer))
    if not articles:
        raise ValidationFailed("the CSV file has no question and answer rows", field=_FIELD)
    return articles


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _csv_delimiter(text: str) -> str:
    """The delimiter that splits the first rows most consistently into two or more columns.
    Counting beats ``csv.Sniffer`` here: answers are prose full of commas, and Excel in
    Turkish writes ";" between columns."""
    sample = "\n".join(text.split("\n", 50)[:50])
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        widths = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter)
                  if any(cell.strip() for cell in row)]
        common = max(set(widths), key=lambda width: (widths.count(width), -width), default=0)
        if common < 2:
            continue
        score = (widths.count(common), -common)  # most rows alike, then the fewest columns
        if score > best_score:
            best, best_score = delimiter, score
    return best


# --- names and titles ----------------------------------------------------------------------

def _base_name(filename: str) -> str:
    # Browsers on Windows may send the whole path ("C:\\fakepath\\x.pdf").
    return re.split(r"[\\/]", filename or "")[-1].strip()


def _title_from_name(name: str) -> str:
    stem = name.rpartition(".")[0] if "." in name.lstrip(".") else name
    stem = " ".join(stem.replace("_", " ").split())
    return _clip_title(stem) or _clip_title(name) or "document"


def _clip_title(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_TITLE_CHARS:
        return text
    cut = text[:MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


# --- chunking ------------------------------------------------------------------------------

# Words ending in "." that do not end a sentence (folded: no dots, accents, case).
ABBREVIATIONS = frozenset({
    "dr", "prof", "doc", "op", "uzm", "yrd", "ars", "ogr", "gor", "av", "sn", "hz", "mr",
    "mrs", "ms", "vb", "vs", "vd", "bkz", "bknz", "orn", "no", "nr", "st", "tel", "mah", "mh",
    "cad", "cd", "sok", "sk", "apt", "blv", "bul", "ltd", "sti", "inc", "co", "tic", "san",
    "yy", "mad", "ca",
})
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+")
_LIST_ITEM = re.compile(r"^(?:[-*+•·–]\s|\d{1,3}[.)]\s|\|)")


@dataclass
class _Unit:
    """A sentence, list item or heading: the smallest piece a chunk is cut between.
    ``gap`` is the whitespace that came before it ("\\n\\n" a new paragraph, "\\n" a new line,
    " " the same line), so a chunk keeps the layout of the text it came from."""

    text: str
    gap: str
    heading: bool = False

    @property
    def words(self) -> int:
        return len(self.text.split())


def chunk_article(title: str, body: str, *, max_words: int = 180,
                  overlap_words: int = 30) -> list[str]:
    """``body`` cut into chunks, preferring to end at a heading, then a paragraph or line,
    then a sentence; a sentence longer than a chunk is cut between words. Each chunk after the
    first repeats about ``overlap_words`` words of the previous one's end (whole sentences when
    they fit), except where a new section starts at a heading. Every chunk starts with the
    title on its own line; one that starts inside a section names that section's heading on the
    next line. Under the title line a chunk holds at most ``max_words`` words (heading, repeated
    overlap and new text together). A body that fits is one chunk, as a FAQ answer normally is.
    The same input always gives the same chunks."""
    if max_words < 1 or not 0 <= overlap_words < max_words:
        raise ValueError("need max_words >= 1 and 0 <= overlap_words < max_words")
    title = " ".join(title.split())
    units = _units(body.replace("\r\n", "\n").replace("\r", "\n").strip())
    if units and fold(units[0].text.lstrip("#").strip()) == fold(title):
        units.pop(0)  # the body's own first line is the title, which every chunk starts with
    if not units:
        return [title] if title else []
    if sum(unit.words for unit in units) <= max_words:
        return [_render(title, None, units)]
    return [_render(title, heading, chunk)
            for heading, chunk in _pack(units, max_words, overlap_words)]


def _pack(units: list[_Unit], max_words: int,
          overlap_words: int) -> list[tuple[_Unit | None, list[_Unit]]]:
    """Units packed greedily into chunks: (the section heading repeated on top, or None;
    the units). A chunk closes early, at two thirds full or more, rather than cut the next
    paragraph in two, and at half full or more before a heading."""
    pieces = [piece for unit in units for piece in _split_long(unit, max_words - overlap_words)]
    paragraph_words = _paragraph_words(pieces)
    chunks: list[tuple[_Unit | None, list[_Unit]]] = []
    current: list[_Unit] = []
    context: _Unit | None = None  # the heading repeated at the top of the current chunk
    section: _Unit | None = None  # the heading of the section being read
    used = 0

    for index, unit in enumerate(pieces):
        if unit.heading:
            following = pieces[index + 1].words if index + 1 < len(pieces) else 0
            if current and (used >= max_words // 2
                            or used + unit.words + following > max_words):
                # A new section starts a new chunk, without the last section's tail.
                chunks.append((context, current))
                current, context, used = [], None, 0
            section = unit
            current.append(unit)
            used += unit.words
            continue
        fits = used + unit.words <= max_words
        paragraph_fits = used + paragraph_words.get(index, 0) <= max_words
        if not current or (fits and (paragraph_fits or used < max_words * 2 // 3)):
            current.append(unit)
            used += unit.words
            continue
        previous = current
        chunks.append((context, current))
        context = section if section is not None and section.words <= max_words // 4 else None
        room = max_words - unit.words - (context.words if context else 0)
        if room < 0:
            context, room = None, max_words - unit.words
        current = [*_tail(previous, min(overlap_words, room)), unit]
        if context is not None and any(piece is context for piece in current):
            context = None  # the heading is in the repeated tail already
        used = sum(piece.words for piece in current) + (context.words if context else 0)
    chunks.append((context, current))
    return chunks


def _paragraph_words(pieces: list[_Unit]) -> dict[int, int]:
    """For each piece that starts a paragraph, the words of that whole paragraph."""
    words: dict[int, int] = {}
    start = None
    for index, piece in enumerate(pieces):
        if piece.heading or piece.gap == "\n\n" or start is None:
            start = index
            words[start] = 0
        words[start] += piece.words
    return words


def _tail(units: list[_Unit], budget: int) -> list[_Unit]:
    """The last whole units of a chunk that fit in ``budget`` words; if even the last one is
    longer, its last ``budget`` words."""
    taken: list[_Unit] = []
    words = 0
    for unit in reversed(units):
        if words + unit.words > budget:
            break
        taken.insert(0, unit)
        words += unit.words
    if taken or budget <= 0:
        return taken
    last = units[-1].text.split()[-budget:]
    return [_Unit(" ".join(last), " ")]


def _split_long(unit: _Unit, limit: int) -> list[_Unit]:
    words = unit.text.split()
    if len(words) <= limit:
        return [unit]
    return [_Unit(" ".join(words[start:start + limit]), unit.gap if start == 0 else " ",
                  heading=unit.heading and start == 0)
            for start in range(0, len(words), limit)]


def _render(title: str, context: _Unit | None, units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(unit.gap + unit.text)
    text = "".join(parts)
    if context is not None:
        text = f"{context.text}\n{text}"
    return f"{title}\n{text}" if title else text


def _units(body: str) -> list[_Unit]:
    """The body's headings, list items and sentences in order. A line continues the sentence
    of the line before when it starts in lower case or that line stops mid-phrase (a comma, a
    hyphen, an abbreviation): that is text wrapped at a fixed width, not a new line of thought."""
    units: list[_Unit] = []
    for block_index, block in enumerate(re.split(r"\n[^\S\n]*\n\s*", body)):
        previous_line = ""
        for line_index, raw_line in enumerate(block.split("\n")):
            line = " ".join(raw_line.split())
            if not line:
                continue
            gap = "\n\n" if line_index == 0 and block_index else "\n"
            if _ATX_HEADING.match(line):
                units.append(_Unit(line, gap, heading=True))
                previous_line = ""
                continue
            sentences = _sentences(line)
            if previous_line and units and _continues(previous_line, line):
                units[-1].text += "\n" + sentences.pop(0)
            else:
                units.append(_Unit(sentences.pop(0), gap))
            units.extend(_Unit(sentence, " ") for sentence in sentences)
            previous_line = line
    return units


def _continues(previous: str, line: str) -> bool:
    if _LIST_ITEM.match(line):
        return False
    if line[0].islower() or previous.endswith((",", "-", "–", "(")):
        return True
    return previous.endswith(".") and _is_abbreviation(previous[:-1])


def _sentences(line: str) -> list[str]:
    """``line`` split after . ! ? and … where a sentence ends: not after an abbreviation
    ("Dr.", "vb.") or an initial ("A. Yılmaz"), and not before a lower-case letter (Turkish
    ordinals: "3. kat", "15. yüzyıl")."""
    sentences: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(line):
        following = line[end.end():end.end() + 1]
        if not following or following.islower():
            continue
        mark = end.group(0).rstrip()
        if mark.rstrip("\"'”’»)]") == "." and _is_abbreviation(line[start:end.start()]):
            continue
        sentences.append(line[start:end.start() + len(mark)])
        start = end.end()
    sentences.append(line[start:])
    return [sentence for sentence in sentences if sentence]


def _is_abbreviation(text_before_dot: str) -> bool:
    """Whether the word just before a full stop is an abbreviation or an initial."""
    word = text_before_dot.rsplit(None, 1)[-1] if text_before_dot.strip() else ""
    word = word.lstrip("(\"'“‘«[").rsplit(".", 1)[-1]  # "Op.Dr" → "Dr"
    if len(word) == 1 and word.isupper():
        return True
    return fold(word) in ABBREVIATIONS
