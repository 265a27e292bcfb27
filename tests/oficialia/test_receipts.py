"""Tests of the acuse de recibo: pure rendering, checked through the PDF's text layer and objects."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import LETTER

from oficialia.receipts import (
    LEGEND,
    LEGEND_TRACKING,
    NO_TRACKING_CODE,
    ReceiptData,
    ReceiptDocument,
    format_received_at,
    format_size,
    render_receipt,
)

MEXICO_CITY = ZoneInfo("America/Mexico_City")


def make_document(name: str, pages: int = 3, size: int = 250_000) -> ReceiptDocument:
    return ReceiptDocument(filename=name, pages=pages, size=size, sha256=hashlib.sha256(name.encode()).hexdigest())


def make_data(**overrides: object) -> ReceiptData:
    values: dict[str, object] = {
        "institution": "H. Ayuntamiento de San Miguel",
        "office": "Oficialía de Partes",
        "folio": "OP-2026-000123",
        "received_at": datetime(2026, 11, 21, 10, 42, 5, tzinfo=MEXICO_CITY),
        "timezone_label": "America/Mexico_City",
        "filer_name": "María José Ñúñez Ortíz",
        "filer_kind": "fisica",
        "subject": "Solicitud de licencia de construcción: ¿procede la exención? ¡Urgente!",
        "channel": "web",
        "department": "Dirección de Desarrollo Urbano",
        "procedure": "Licencia de construcción",
        "received_by": None,
        "documents": (
            make_document("Solicitud firmada.pdf", pages=2, size=183_456),
            make_document("Identificación oficial (INE).pdf", pages=1, size=512),
            make_document("Planos arquitectónicos.pdf", pages=12, size=8_734_002),
        ),
        "physical_annexes": None,
        "tracking_code": "K7QF-9M2X-PL4T",
        "tracking_url": "https://oficialia.example.gob.mx/seguimiento/OP-2026-000123?code=K7QF-9M2X-PL4T",
    }
    values.update(overrides)
    return ReceiptData(**values)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def flat(text: str) -> str:
    """Collapse the whitespace that text extraction puts between words and table cells."""
    return " ".join(text.split())


def test_receipt_text_layer_holds_the_filing():
    data = make_data()
    pdf = render_receipt(data)

    assert pdf.startswith(b"%PDF-")
    text = flat(pdf_text(pdf))
    assert "ACUSE DE RECIBO" in text
    assert "H. Ayuntamiento de San Miguel" in text
    assert "Oficialía de Partes" in text
    assert "OP-2026-000123" in text
    assert "21 de noviembre de 2026, 10:42:05 h (America/Mexico_City)" in text
    assert "María José Ñúñez Ortíz" in text
    assert "Persona física" in text
    assert "Solicitud de licencia de construcción: ¿procede la exención? ¡Urgente!" in text
    assert "Portal web" in text
    assert "Recepción electrónica" in text
    assert "Dirección de Desarrollo Urbano" in text
    for document in data.documents:
        assert document.filename in text
        assert document.sha256 in text
    assert "Total: 3 documentos electrónicos 15" in text
    assert "179.2 KB" in text and "512 bytes" in text and "8.33 MB" in text
    assert "K7QF-9M2X-PL4T" in text
    # The URL under the QR code wraps, and extraction breaks it at the line ends.
    assert data.tracking_url in "".join(text.split())
    assert LEGEND in text
    assert LEGEND_TRACKING in text
    # A one-page receipt needs no page numbers.
    assert re.search(r"Página \d+ de \d+", text) is None


def test_window_receipt_names_the_clerk_and_the_paper_annexes():
    data = make_data(
        channel="ventanilla",
        filer_kind="moral",
        received_by="Lic. Juan Pérez Gómez",
        physical_annexes="1 juego de planos impresos (3 hojas)\nCopia certificada de escritura",
        department=None,
        procedure=None,
    )

    text = flat(pdf_text(render_receipt(data)))

    assert "Ventanilla" in text
    assert "Persona moral" in text
    assert "Lic. Juan Pérez Gómez" in text
    assert "Anexos recibidos en físico" in text
    assert "1 juego de planos impresos (3 hojas)" in text
    assert "Copia certificada de escritura" in text
    assert "No especificada" in text and "No especificado" in text


def test_metadata():
    reader = PdfReader(io.BytesIO(render_receipt(make_data())))

    assert reader.metadata is not None
    assert reader.metadata.title == "Acuse de recibo OP-2026-000123"
    assert reader.metadata.author == "H. Ayuntamiento de San Miguel"
    assert "Solicitud de licencia de construcción" in (reader.metadata.subject or "")


def test_same_data_same_bytes():
    assert render_receipt(make_data()) == render_receipt(make_data())


def test_different_data_different_bytes():
    assert render_receipt(make_data()) != render_receipt(make_data(folio="OP-2026-000124"))


def test_many_documents_flow_onto_numbered_pages():
    documents = tuple(make_document(f"Anexo {number:02d}.pdf", pages=number) for number in range(1, 41))

    pdf = render_receipt(make_data(documents=documents))

    reader = PdfReader(io.BytesIO(pdf))
    total = len(reader.pages)
    assert total >= 2
    for number, page in enumerate(reader.pages, start=1):
        page_text = flat(page.extract_text())
        assert f"Página {number} de {total}" in page_text
        assert "OP-2026-000123" in page_text
    text = flat(pdf_text(pdf))
    for document in documents:
        assert document.filename in text
        assert document.sha256 in text
    assert f"Total: 40 documentos electrónicos {sum(range(1, 41))}" in text
    assert "K7QF-9M2X-PL4T" in text


def test_markup_in_user_text_prints_literally():
    data = make_data(
        subject='<script>alert("x")</script> & <b>negritas</b>',
        filer_name="Pérez & Hijos <S.A. de C.V.>",
        documents=(make_document("a<b>&c.pdf"),),
    )

    text = flat(pdf_text(render_receipt(data)))

    assert '<script>alert("x")</script> & <b>negritas</b>' in text
    assert "Pérez & Hijos <S.A. de C.V.>" in text
    assert "a<b>&c.pdf" in text


def test_qr_code_is_embedded_as_an_image():
    reader = PdfReader(io.BytesIO(render_receipt(make_data())))

    xobjects = reader.pages[0]["/Resources"]["/XObject"]
    subtypes = {xobjects[name].get_object()["/Subtype"] for name in xobjects}
    assert "/Image" in subtypes


def test_tracking_url_is_a_link():
    data = make_data()
    reader = PdfReader(io.BytesIO(render_receipt(data)))

    uris = [
        annotation.get_object()["/A"]["/URI"]
        for page in reader.pages
        for annotation in page.get("/Annots", [])
        if "/A" in annotation.get_object()
    ]
    assert data.tracking_url in uris


def test_without_tracking_code_the_receipt_says_it_was_handed_over():
    data = make_data(tracking_code=None, tracking_url="https://oficialia.example.gob.mx/seguimiento/OP-2026-000123")

    text = flat(pdf_text(render_receipt(data)))

    assert NO_TRACKING_CODE in text
    assert "K7QF" not in text


def test_letter_size():
    reader = PdfReader(io.BytesIO(render_receipt(make_data(), pagesize=LETTER)))

    assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [612, 792]


def test_no_documents():
    text = flat(pdf_text(render_receipt(make_data(documents=(), physical_annexes="Escrito original, 4 hojas"))))

    assert "No se recibieron documentos electrónicos." in text
    assert "Total: 0 documentos electrónicos" in text


def test_characters_outside_the_font_fold_to_their_base_letter():
    text = flat(pdf_text(render_receipt(make_data(filer_name="Nguyễn Thị Ánh"))))

    assert "Nguyen Thi Ánh" in text


def test_typical_receipt_is_small():
    assert len(render_receipt(make_data())) < 100_000


def test_naive_reception_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        render_receipt(make_data(received_at=datetime(2026, 11, 21, 10, 42, 5)))


def test_format_received_at_does_not_use_the_locale():
    moment = datetime(2026, 1, 5, 8, 3, 9, tzinfo=UTC).astimezone(MEXICO_CITY)

    assert format_received_at(moment, "America/Mexico_City") == ("5 de enero de 2026, 02:03:09 h (America/Mexico_City)")


@pytest.mark.parametrize(
    ("size", "label"),
    [(0, "0 bytes"), (1, "1 byte"), (1023, "1,023 bytes"), (1024, "1.0 KB"), (1_572_864, "1.50 MB")],
)
def test_format_size(size: int, label: str):
    assert format_size(size) == label


def test_receipt_data_is_immutable():
    data = make_data()

    with pytest.raises(dataclasses.FrozenInstanceError):
        data.folio = "OP-2026-999999"  # type: ignore[misc]


def test_text_taller_than_a_page_continues_on_the_next():
    data = make_data(subject="palabra " * 2500 + "FIN", physical_annexes="hoja\n" * 200 + "FINAL")

    text = flat(pdf_text(render_receipt(data)))

    assert text.count("palabra") == 2500
    assert "FIN" in text and "FINAL" in text
