"""The "RECIBIDO" stamp: its text, where it lands on rotated and cropped pages, embedded fonts,
and a PDF/A copy that stays PDF/A with its OCR text layer intact."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pypdfium2
import pytest
from pikepdf.pdfa import validate_written
from PIL import Image
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from oficialia.ocr import OcrmypdfEngine, OcrResult
from oficialia.stamp import stamp_received

DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"

RECEIPT = {
    "institution": "Secretaría de Finanzas y Administración del Estado",
    "office": "Oficialía de Partes Común",
    "folio": "OP-2025-000123",
    "received_at": "14/03/2025 10:32",
    "pages": 3,
}


def letter(pages: int = 1, *, rotate: int = 0, cropbox: list[float] | None = None) -> bytes:
    """A born-digital letter page (612 × 792 pt), optionally /Rotate'd or cropped."""
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=(612, 792))
    for number in range(pages):
        drawing.setFont("Helvetica", 14)
        drawing.drawString(72, 700, f"Pagina {number + 1} del oficio")
        drawing.showPage()
    drawing.save()
    with pikepdf.open(io.BytesIO(out.getvalue())) as pdf:
        if rotate:
            pdf.pages[0].obj.Rotate = rotate
        if cropbox:
            pdf.pages[0].obj.CropBox = pikepdf.Array(cropbox)
        result = io.BytesIO()
        pdf.save(result)
    return result.getvalue()


def page_text(pdf: bytes, number: int = 0) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[number].extract_text()


def render(pdf: bytes) -> Image.Image:
    """Page 1 as a viewer shows it (pdfium applies /Rotate and the CropBox), at 40 dpi."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[0]
        try:
            return page.render(scale=40 / 72).to_pil().convert("RGB")
        finally:
            page.close()
    finally:
        document.close()


def ink_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the stamp's blue ink: (left, top, right, bottom) in pixels."""
    pixels = image.load()
    assert pixels is not None
    xs, ys = [], []
    for y in range(image.height):
        for x in range(image.width):
            red, _, blue = pixels[x, y]
            if blue > red + 60:
                xs.append(x)
                ys.append(y)
    assert xs, "no stamp ink on the page"
    return min(xs), min(ys), max(xs), max(ys)


def fonts_of(resources: pikepdf.Object, seen: set[tuple[int, int]] | None = None) -> list[pikepdf.Object]:
    """Every font reachable from a resource dictionary, form XObjects included."""
    seen = set() if seen is None else seen
    found: list[pikepdf.Object] = []
    if not isinstance(resources, pikepdf.Dictionary):
        return found
    fonts = resources.get("/Font")
    if isinstance(fonts, pikepdf.Dictionary):
        found.extend(fonts.values())
    xobjects = resources.get("/XObject")
    if isinstance(xobjects, pikepdf.Dictionary):
        for xobject in xobjects.values():
            if xobject.get("/Subtype") == "/Form" and xobject.objgen not in seen:
                seen.add(xobject.objgen)
                found.extend(fonts_of(xobject.get("/Resources"), seen))
    return found


def is_embedded(font: pikepdf.Object) -> bool:
    if font.get("/Subtype") == "/Type0":
        font = font.DescendantFonts[0]
    descriptor = font.get("/FontDescriptor")
    return isinstance(descriptor, pikepdf.Dictionary) and any(
        key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
    )


# --- Text and pages -----------------------------------------------------------------------------


def test_stamp_says_received_folio_date_and_sheets() -> None:
    stamped = stamp_received(letter(3), **RECEIPT)

    text = page_text(stamped)
    for expected in ("RECIBIDO", "OP-2025-000123", "14/03/2025 10:32", "3 fojas", "Oficialía de Partes Común",
                     "Secretaría de Finanzas"):
        assert expected in text
    assert "Pagina 1 del oficio" in text
    assert len(PdfReader(io.BytesIO(stamped)).pages) == 3
    # only page 1 is stamped
    assert "RECIBIDO" not in page_text(stamped, 1)


def test_one_sheet_is_singular() -> None:
    assert "1 foja" in page_text(stamp_received(letter(), **{**RECEIPT, "pages": 1}))


def test_stamp_fonts_are_embedded() -> None:
    stamped = stamp_received(letter(), **RECEIPT)
    with pikepdf.open(io.BytesIO(stamped)) as pdf:
        stamp_fonts = [font for font in fonts_of(pdf.pages[0].resources) if font.get("/BaseFont") != "/Helvetica"]
        assert stamp_fonts
        assert all(is_embedded(font) for font in stamp_fonts), [str(f.get("/BaseFont")) for f in stamp_fonts]


def test_signed_pdf_is_refused() -> None:
    with pikepdf.open(io.BytesIO(letter())) as pdf:
        pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array(), SigFlags=3))
        out = io.BytesIO()
        pdf.save(out)
    with pytest.raises(ValueError, match="signed"):
        stamp_received(out.getvalue(), **RECEIPT)


# --- Placement ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_stamp_sits_upright_at_the_top_right_as_the_page_is_shown(rotate: int) -> None:
    image = render(stamp_received(letter(rotate=rotate), **RECEIPT))
    left, top, right, bottom = ink_box(image)

    # 40 dpi: the 18 pt margin is 10 px; the stamp is 216 pt (120 px) wide
    assert image.width - right < 20 and top < 20
    assert left > image.width / 2 and bottom < image.height / 2
    # upright: wider than tall, as drawn; turned 90° it would be taller than wide
    assert right - left > 1.5 * (bottom - top)


def test_stamp_goes_in_the_visible_corner_of_a_cropped_page() -> None:
    image = render(stamp_received(letter(rotate=90, cropbox=[100, 50, 500, 700]), **RECEIPT))
    assert image.size == (362, 223)  # 650 × 400 pt shown, at 40 dpi, rounded up
    left, top, right, bottom = ink_box(image)
    assert image.width - right < 20 and top < 20
    assert right - left > 1.5 * (bottom - top)


def test_stamp_shrinks_on_a_small_page() -> None:
    out = io.BytesIO()
    drawing = canvas.Canvas(out, pagesize=(200, 280))
    drawing.drawString(20, 250, "vale")
    drawing.showPage()
    drawing.save()
    image = render(stamp_received(out.getvalue(), **RECEIPT))
    left, top, right, bottom = ink_box(image)
    assert right - left <= image.width / 2 + 2


# --- On the OCR'd PDF/A copy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ocr_copy() -> OcrResult:
    result = OcrmypdfEngine().process((DATA / "phototest.png").read_bytes(), "png")
    assert result.pdfa
    return result


@pytest.mark.ocr
def test_stamped_pdfa_copy_stays_pdfa_with_its_text_layer(ocr_copy: OcrResult) -> None:
    stamped = stamp_received(ocr_copy.pdf, **RECEIPT)

    report = validate_written(io.BytesIO(stamped), "2b")
    assert report.passed, report.summary()
    with pikepdf.open(io.BytesIO(stamped)) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
        assert len(pdf.pages) == 1
        assert all(is_embedded(font) for font in fonts_of(pdf.pages[0].resources))
    text = page_text(stamped)
    assert "RECIBIDO" in text and "OP-2025-000123" in text
    assert "The quick brown dog jumped over the lazy fox." in " ".join(text.split())
