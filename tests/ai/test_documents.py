"""Reading uploaded documents into knowledge-base articles, and chunking articles: real files
built here (a PDF written byte by byte, Word files from python-docx, text in the encodings
Turkish companies use), read back through ``read_document``; chunking checked on its promises
(bounded size, overlap, title on top, no word lost, sentence ends, determinism)."""

from __future__ import annotations

import io
import itertools
import re
import zipfile

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from invekto.ai.documents import (
    MAX_CSV_ROWS,
    MAX_DOCUMENT_BYTES,
    ParsedArticle,
    chunk_article,
    read_document,
)
from invekto.core.errors import ValidationFailed

TURKISH = "Şirketimiz İstanbul'da; ğüşıöç ĞÜŞİÖÇ ürünleri ılık suda yıkayın."


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal PDF, one text line per entry (Helvetica, WinAnsi: no ğ ş ı İ), with a correct
    cross-reference table, as a word processor's "save as PDF" would lay it out."""

    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    page_ids = [4 + 2 * index for index in range(len(pages))]
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for page_id, lines in zip(page_ids, pages, strict=True):
        text = " ".join(f"({escape(line)}) Tj T*" for line in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {text} ET".encode("cp1252")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
                       f"<< /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def rewrite_pdf(data: bytes, *, title: str | None = None, user_password: str | None = None,
                owner_password: str = "sahip") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    if title is not None:
        writer.add_metadata({"/Title": title})
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner_password,
                       algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(build) -> bytes:
    document = docx.Document()
    build(document)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def refused(filename: str, data: bytes) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        read_document(filename, data)
    assert caught.value.field == "file"
    return caught.value


# --- text and Markdown ---------------------------------------------------------------------

@pytest.mark.parametrize("encoded", [
    ("İade Koşulları\n\n" + TURKISH).encode("utf-8"),
    ("İade Koşulları\n\n" + TURKISH).encode("utf-8-sig"),
    ("İade Koşulları\r\n\r\n" + TURKISH).encode("cp1254"),
    ("İade Koşulları\n\n" + TURKISH).encode("utf-16"),
], ids=["utf8", "utf8-bom", "cp1254-crlf", "utf16-bom"])
def test_text_in_every_turkish_encoding_reads_the_same(encoded):
    [article] = read_document("iade.txt", encoded)
    assert article == ParsedArticle("article", "İade Koşulları", "İade Koşulları\n\n" + TURKISH)


def test_text_that_is_not_utf8_nor_cp1254_falls_back_to_latin1():
    # 0x81 is undefined in Windows-1254: only Latin-1 decodes it.
    [article] = read_document("notes.txt", "Café menü\n".encode("latin-1") + b"\x81 son")
    assert article.body == "Café menü\n son"  # the stray C1 control character dropped


def test_markdown_title_is_the_first_top_level_heading():
    text = ("Taslak notu\n\n# İade Politikası\n\nÜrünler 14 gün içinde iade edilir.\n\n"
            "## Süre\n\nKargoya verildiği gün başlar.\n")
    [article] = read_document("belge.md", text.encode())
    assert article.title == "İade Politikası"
    assert "## Süre" in article.body and article.body.startswith("Taslak notu")


def test_text_title_falls_back_to_the_file_name_when_the_first_line_is_a_paragraph():
    paragraph = "Kargo " * 60  # 360 characters: a paragraph, not a title
    [article] = read_document("C:\\fakepath\\kargo_ve_teslimat.txt", paragraph.encode())
    assert article.title == "kargo ve teslimat"
    [short] = read_document("notlar.markdown", b"\n\n  Kisa baslik  \nmetin")
    assert short.title == "Kisa baslik"


# --- PDF -----------------------------------------------------------------------------------

def test_pdf_pages_joined_with_hyphenation_and_wrapping_undone():
    data = make_pdf([
        ["Kargo ve Teslimat", "Siparisler iki is gununde kar-", "goya verilir ve takip",
         "numarasi SMS ile gonderilir.", "1"],
        ["Iade   kosullari 14 gun icinde gecerlidir.", "2"],
    ])
    [article] = read_document("teslimat.pdf", data)
    assert article.title == "Kargo ve Teslimat"  # no metadata title: the first line
    assert article.body == (
        "Kargo ve Teslimat\n"
        "Siparisler iki is gununde kargoya verilir ve takip numarasi SMS ile gonderilir.\n"
        "Iade kosullari 14 gun icinde gecerlidir.")


def test_pdf_title_from_metadata_and_sniffed_whatever_the_name():
    data = rewrite_pdf(make_pdf([["Teslimat", "Kargo ucretsizdir."]]), title="Kargo Rehberi")
    [article] = read_document("upload.bin", data)
    assert article.title == "Kargo Rehberi"
    # A placeholder title ("Microsoft Word - x.docx" style) is not a title.
    named = rewrite_pdf(make_pdf([["Teslimat", "Kargo ucretsizdir."]]), title="kargo.docx")
    assert read_document("kargo.pdf", named)[0].title == "Teslimat"


def test_pdf_with_a_password_is_refused_and_one_only_restricted_is_read():
    plain = make_pdf([["Teslimat", "Kargo ucretsizdir."]])
    error = refused("gizli.pdf", rewrite_pdf(plain, user_password="gizli"))
    assert "password" in error.message
    [article] = read_document("kisitli.pdf", rewrite_pdf(plain, user_password=""))
    assert article.body == "Teslimat\nKargo ucretsizdir."


def test_pdf_without_text_or_damaged_is_refused():
    assert "no text" in refused("tarama.pdf", make_pdf([[]])).message
    assert "could not be read" in refused("bozuk.pdf", b"%PDF-1.4\nnot really a pdf").message


# --- Word ----------------------------------------------------------------------------------

def test_docx_keeps_headings_as_lines_and_reads_tables():
    def build(document):
        document.add_paragraph("Giriş: şirket içi kullanım.")
        document.add_heading("İade Politikası", 0)
        document.add_paragraph("Ürünleri 14 gün içinde iade edebilirsiniz.")
        document.add_heading("Kargo Süreleri", 1)
        document.add_paragraph("Kargo ücretsizdir.", style="List Bullet")
        table = document.add_table(rows=2, cols=2)
        for (row, column), text in {(0, 0): "Bölge", (0, 1): "Süre",
                                    (1, 0): "İstanbul", (1, 1): "1 gün"}.items():
            table.cell(row, column).text = text
        merged = document.add_table(rows=1, cols=3)
        merged.cell(0, 0).merge(merged.cell(0, 1)).text = "Birleşik hücre"
        merged.cell(0, 2).text = "Son"

    [article] = read_document("iade.docx", make_docx(build))
    assert article.title == "İade Politikası"
    assert article.body == (
        "Giriş: şirket içi kullanım.\n\n# İade Politikası\n\n"
        "Ürünleri 14 gün içinde iade edebilirsiniz.\n\n## Kargo Süreleri\n\n"
        "- Kargo ücretsizdir.\n\nBölge | Süre\nİstanbul | 1 gün\n\nBirleşik hücre | Son")


def test_docx_without_heading_is_titled_by_its_name_even_when_misnamed():
    data = make_docx(lambda document: document.add_paragraph("Sadece bir paragraf."))
    [article] = read_document("sık_sorulanlar.txt", data)
    assert article == ParsedArticle("article", "sık sorulanlar", "Sadece bir paragraf.")
    assert "no text" in refused("bos.docx", make_docx(lambda document: None)).message


# --- CSV of question/answer pairs ----------------------------------------------------------

def test_csv_excel_turkish_semicolons_with_header_in_cp1254():
    text = ("Soru;Cevap\r\nKargo ne zaman gelir?;2-3 iş günü, bazen 5.\r\n;\r\n"
            "İade var mı?;Evet, 14 gün içinde.\r\n")
    articles = read_document("sss.csv", text.encode("cp1254"))
    assert articles == [
        ParsedArticle("faq", "Kargo ne zaman gelir?", "2-3 iş günü, bazen 5."),
        ParsedArticle("faq", "İade var mı?", "Evet, 14 gün içinde."),
    ]


def test_csv_commas_without_header_and_quoted_commas():
    text = ('"Kargo ücreti ne kadar?","50 TL, 500 TL üzeri ücretsiz"\n'
            "Hangi günler açıksınız?,Hafta içi her gün\n")
    articles = read_document("sss.csv", text.encode("utf-8-sig"))
    assert [(a.title, a.body) for a in articles] == [
        ("Kargo ücreti ne kadar?", "50 TL, 500 TL üzeri ücretsiz"),
        ("Hangi günler açıksınız?", "Hafta içi her gün"),
    ]


def test_csv_header_names_find_the_columns_in_any_order_and_case():
    text = "kategori\tYANIT\tSORU\nkargo\tİki gün.\tNe zaman gelir?\n"
    [article] = read_document("faq.csv", text.encode())
    assert (article.title, article.body) == ("Ne zaman gelir?", "İki gün.")
    [english] = read_document("faq.csv", b"Answer,Question\nTwo days.,When?\n")
    assert (english.title, english.body) == ("When?", "Two days.")


def test_csv_row_without_answer_is_named():
    text = "Soru;Cevap\nKargo?;İki gün.\n\nİade?;\n"
    error = refused("sss.csv", text.encode())
    assert error.params == {"row": 4}
    assert error.message == "row 4 has a question but no answer"


def test_csv_limits_and_shapes_refused():
    rows = "".join(f"Soru {n}?;Cevap {n}.\n" for n in range(MAX_CSV_ROWS))
    assert len(read_document("sss.csv", ("Soru;Cevap\n" + rows).encode())) == MAX_CSV_ROWS
    error = refused("sss.csv", ("Soru;Cevap\n" + rows + "Bir fazla?;Evet.\n").encode())
    assert error.params == {"max": MAX_CSV_ROWS}
    assert "two columns" in refused("sss.csv", b"sadece soru\nbir soru daha\n").message


# --- files refused -------------------------------------------------------------------------

def test_empty_unknown_binary_and_too_large_files_are_refused():
    assert refused("bos.txt", b"").message == "the file is empty"
    assert refused("bos.txt", b" \n\r\n\t").message == "the file is empty"
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert "cannot be read" in refused("logo.png", png).message
    assert "cannot be read" in refused("sayfa.html", b"<html>Merhaba</html>").message
    assert "could not be read as text" in refused("gizli.txt", png).message
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as spreadsheet:
        spreadsheet.writestr("xl/workbook.xml", "<workbook/>")
    assert "cannot be read" in refused("tablo.xlsx", archive.getvalue()).message
    assert "damaged" in refused("tablo.docx", archive.getvalue()).message
    too_large = refused("buyuk.txt", b"a" * (MAX_DOCUMENT_BYTES + 1))
    assert too_large.params == {"max": 10}
    assert read_document("tam.txt", b"a" * MAX_DOCUMENT_BYTES)[0].body.startswith("aaa")


# --- chunking ------------------------------------------------------------------------------

def body_of(chunk: str) -> str:
    return chunk.split("\n", 1)[1]


def shared_edge(before: list[str], after: list[str]) -> int:
    """How many words ``after`` starts with that ``before`` ends with."""
    return max((size for size in range(1, min(len(before), len(after)) + 1)
                if before[-size:] == after[:size]), default=0)


def numbered_body(paragraphs: int, sentences: int) -> str:
    """Paragraphs of sentences whose every word is unique (p3s2w5), so a lost word shows."""
    return "\n\n".join(
        " ".join(" ".join(f"p{p}s{s}w{w}" for w in range(9)) + "." for s in range(sentences))
        for p in range(paragraphs))


def test_short_body_and_faq_answer_are_one_chunk():
    assert chunk_article("Kargo ne zaman gelir?", "İki iş günü içinde.") == [
        "Kargo ne zaman gelir?\nİki iş günü içinde."]
    assert chunk_article("Boş", "  ") == ["Boş"]
    # The body's own first line repeating the title is not said twice.
    assert chunk_article("İade", "# İade\n\nOn dört gün.") == ["İade\nOn dört gün."]


def test_long_body_chunks_bounded_overlapping_titled_and_complete():
    body = numbered_body(paragraphs=12, sentences=5)  # 12 x 5 x 9 = 540 words
    chunks = chunk_article("Kullanım Kılavuzu", body, max_words=100, overlap_words=20)
    assert len(chunks) >= 6
    for chunk in chunks:
        assert chunk.startswith("Kullanım Kılavuzu\n")
        assert 0 < len(body_of(chunk).split()) <= 100
        assert body_of(chunk).endswith(".")  # cut at a sentence end, never mid-word
    seen = {word for chunk in chunks for word in body_of(chunk).split()}
    assert seen == set(body.split())
    for before, after in itertools.pairwise(chunks):
        # The next chunk opens with whole sentences repeated from the previous one's end.
        overlap = shared_edge(body_of(before).split(), body_of(after).split())
        assert 0 < overlap <= 20
        assert body_of(after).split()[overlap - 1].endswith(".")


def test_chunks_prefer_to_end_at_a_paragraph():
    body = numbered_body(paragraphs=6, sentences=4)  # paragraphs of 36 words
    chunks = chunk_article("Kılavuz", body, max_words=80, overlap_words=10)
    for chunk in chunks[:-1]:
        last_word = body_of(chunk).split()[-1]
        assert re.fullmatch(r"p\ds3w8\.", last_word), last_word


def test_a_sentence_longer_than_a_chunk_is_cut_between_words():
    body = " ".join(f"kelime{n}" for n in range(500))
    chunks = chunk_article("Uzun", body, max_words=100, overlap_words=25)
    words = [body_of(chunk).split() for chunk in chunks]
    assert all(len(chunk) <= 100 for chunk in words)
    assert {word for chunk in words for word in chunk} == set(body.split())
    for before, after in itertools.pairwise(words):
        assert shared_edge(before, after) == 25


def test_headings_start_chunks_and_are_repeated_inside_their_section():
    section = " ".join(f"Kargo cümlesi {n} burada biter." for n in range(40))  # 200 words
    body = f"Giriş metni.\n\n## Kargo\n\n{section}\n\n## İade\n\nİade on dört gündür."
    chunks = chunk_article("Rehber", body, max_words=90, overlap_words=15)
    assert chunks[0].startswith("Rehber\nGiriş metni.\n\n## Kargo\n\nKargo cümlesi 0 ")
    middle = [chunk for chunk in chunks if "Kargo cümlesi 39" in chunk]
    assert middle and all(chunk.startswith("Rehber\n## Kargo\n") for chunk in middle)
    assert chunks[-1] == "Rehber\n## İade\n\nİade on dört gündür."  # no tail of Kargo
    assert all(len(body_of(chunk).split()) <= 90 for chunk in chunks)


def test_no_cut_after_turkish_abbreviations_ordinals_or_initials():
    body = ("Randevunuzu Dr. Ayşe Kaya onaylar. Prof. Mehmet Can da bakar. "
            "Kalem, defter vb. Ürünler satılır. Mağaza 3. katta yer alır. "
            "Adres: Atatürk Cad. No. 5 Kadıköy. Müdür A. Yılmaz imzalar. Sonra biter!")
    chunks = chunk_article("Bilgi", body, max_words=8, overlap_words=0)
    assert [body_of(chunk) for chunk in chunks] == [
        "Randevunuzu Dr. Ayşe Kaya onaylar.",
        "Prof. Mehmet Can da bakar.",
        "Kalem, defter vb. Ürünler satılır.",
        "Mağaza 3. katta yer alır.",
        "Adres: Atatürk Cad. No. 5 Kadıköy.",
        "Müdür A. Yılmaz imzalar. Sonra biter!",
    ]


def test_lines_wrapped_mid_sentence_stay_one_sentence_and_lists_split_by_item():
    body = ("Siparişiniz kargoya verildikten\nsonra SMS gelir. Takip\n"
            "numarası mesajdadır.\n- Birinci madde\n- İkinci madde")
    chunks = chunk_article("Kargo", body, max_words=6, overlap_words=0)
    assert [body_of(chunk) for chunk in chunks] == [
        "Siparişiniz kargoya verildikten\nsonra SMS gelir.",
        "Takip\nnumarası mesajdadır.\n- Birinci madde",
        "- İkinci madde",
    ]


def test_chunking_is_deterministic_and_checks_its_limits():
    body = numbered_body(paragraphs=8, sentences=6) + "\n\n## Ek\n\n" + "Son söz. " * 50
    assert chunk_article("T", body) == chunk_article("T", body)
    assert len(chunk_article("T", body)) > 1
    with pytest.raises(ValueError):
        chunk_article("T", body, max_words=30, overlap_words=30)


def test_a_read_document_chunks_end_to_end():
    text = "# Kullanım\n\n" + numbered_body(paragraphs=10, sentences=4)
    [article] = read_document("kilavuz.md", text.encode())
    chunks = chunk_article(article.title, article.body)
    assert len(chunks) > 1
    assert all(chunk.startswith("Kullanım\n") and "# Kullanım" not in chunk for chunk in chunks)
