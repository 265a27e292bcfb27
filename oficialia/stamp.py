"""The mail-room's "RECIBIDO" rubber stamp, put on page 1 of the derived copy of a document.

Like the ink stamp of a paper mail-room, it says who received the document, under which folio,
when, and how many sheets (fojas) came in. It is drawn with reportlab, with an embedded DejaVu
TrueType font so the copy stays PDF/A, and laid over the page with pikepdf; the page's own
content, its OCR text layer included, is left as it is.

Never stamp a signed PDF: any change after signing breaks the signature. The caller skips the
stamp when :attr:`oficialia.ocr.OcrResult.ocr_applied` is false (the original was kept as is).
"""

from __future__ import annotations

import io
import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

logger = logging.getLogger(__name__)

FONT = "OficialiaStamp"
FONT_BOLD = "OficialiaStamp-Bold"
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
#: DejaVu (Debian's fonts-dejavu-core), else Bitstream Vera, which reportlab ships and DejaVu
#: derives from: both cover Spanish.
_FONT_FILES = (
    (_DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"),
    (Path(canvas.__file__).resolve().parents[1] / "fonts" / "Vera.ttf",
     Path(canvas.__file__).resolve().parents[1] / "fonts" / "VeraBd.ttf"),
)

#: stamp ink: a dark blue, as the pads of mail-rooms use
INK = Color(0.08, 0.18, 0.55)
#: size of the stamp on a letter or A4 page, in points (72 per inch): about 7.6 × 4 cm
WIDTH = 216.0
MARGIN = 18.0
#: on a small page the stamp shrinks to this share of the page's width or height, whichever is less
MAX_SHARE_OF_WIDTH = 0.5
MAX_SHARE_OF_HEIGHT = 0.35
_TITLE_SIZE = 16.0
_TEXT_SIZE = 7.5
_LEADING = 9.4
_PADDING = 8.0
_WRAP_CHARACTERS = 48


@dataclass(frozen=True)
class _Box:
    """A rectangle in the page's default user space."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def stamp_received(pdf: bytes, *, institution: str, office: str, folio: str, received_at: str, pages: int) -> bytes:
    """Put the "RECIBIDO" stamp at the top right of page 1, as the page is shown.

    The page's /Rotate, MediaBox and CropBox are honoured, so the stamp reads upright in the
    visible corner of any page. A PDF/A input is saved through pikepdf's PDF/A writer, which
    validates what it writes. The page count and the page's existing text are unchanged.

    Do not call this on a signed PDF: the stamp would break the signature. The OCR job skips it
    when :attr:`oficialia.ocr.OcrResult.ocr_applied` is false.

    :param pdf: the derived copy (the OCR output).
    :param institution: e.g. "Secretaría de Finanzas".
    :param office: the receiving office, e.g. "Oficialía de Partes".
    :param folio: the filing's folio, printed as it is.
    :param received_at: date and time of receipt, already formatted (e.g. "14/03/2025 10:32").
    :param pages: sheets received (fojas), printed as "N fojas".
    :return: the stamped PDF.
    :raises ValueError: the PDF declares a digital signature (AcroForm /SigFlags bit 1).
    :raises pikepdf.PdfError: ``pdf`` cannot be opened (it should be our own OCR output).
    """
    regular, bold = _fonts()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        if _declares_signatures(document):
            raise ValueError("refusing to stamp a signed PDF: the stamp would invalidate its signature")
        page = document.pages[0]
        visible = _visible_box(page)
        rotation = _rotation(page)
        shown = (visible.height, visible.width) if rotation in (90, 270) else (visible.width, visible.height)
        overlay = _draw_stamp(
            shown, regular, bold,
            lines=_lines(institution=institution, office=office, folio=folio, received_at=received_at, pages=pages),
        )
        with pikepdf.open(io.BytesIO(overlay)) as stamp_pdf:
            stamp = document.copy_foreign(stamp_pdf.pages[0].as_form_xobject())
        # qpdf undoes the page's /Rotate (and /UserUnit) when placing the form, so the stamp, drawn
        # upright at the page's shown size, fills the visible box and reads upright once rotated
        page.add_overlay(stamp, pikepdf.Rectangle(visible.x0, visible.y0, visible.x1, visible.y1))
        return _save(document)


def _declares_signatures(document: pikepdf.Pdf) -> bool:
    """The AcroForm's SignaturesExist flag, the same test OCRmyPDF applies before refusing a file."""
    acroform = document.Root.get("/AcroForm")
    if not isinstance(acroform, pikepdf.Dictionary):
        return False
    try:
        return bool(int(acroform.get("/SigFlags", 0)) & 1)
    except (TypeError, ValueError):
        return False


def _lines(*, institution: str, office: str, folio: str, received_at: str, pages: int) -> list[tuple[str, bool]]:
    """The stamp's text below the title, as ``(text, bold)`` lines."""
    lines: list[tuple[str, bool]] = []
    for text, bold in ((institution, True), (office, False)):
        wrapped = textwrap.wrap(" ".join(text.split()), _WRAP_CHARACTERS)[:2] or [""]
        lines.extend((line, bold) for line in wrapped)
    sheets = "1 foja" if pages == 1 else f"{pages} fojas"
    lines.append((f"Folio: {folio}", True))
    lines.append((f"Fecha y hora: {received_at}", False))
    lines.append((f"Se reciben: {sheets}", False))
    return lines


def _draw_stamp(shown: tuple[float, float], regular: str, bold: str, *, lines: list[tuple[str, bool]]) -> bytes:
    """A one-page PDF of the page's shown size with the stamp in its top right corner."""
    width, height = shown
    stamp_height = 2 * _PADDING + _TITLE_SIZE + 6 + len(lines) * _LEADING
    scale = min(1.0, width * MAX_SHARE_OF_WIDTH / WIDTH, height * MAX_SHARE_OF_HEIGHT / stamp_height)
    margin = MARGIN * scale
    out = io.BytesIO()
    # the initial font is ours too: reportlab would otherwise put a Helvetica, which it does not
    # embed, into the resources, and PDF/A requires every font embedded
    drawing = canvas.Canvas(
        out, pagesize=(width, height), invariant=True, pageCompression=1,
        initialFontName=regular, initialFontSize=_TEXT_SIZE,
    )
    drawing.translate(width - margin - WIDTH * scale, height - margin - stamp_height * scale)
    drawing.scale(scale, scale)
    drawing.setStrokeColor(INK)
    drawing.setFillColor(INK)
    # a double border, as rubber stamps have; no fill, so nothing under the stamp is hidden
    drawing.setLineWidth(1.6)
    drawing.roundRect(0, 0, WIDTH, stamp_height, 6, stroke=1, fill=0)
    drawing.setLineWidth(0.6)
    drawing.roundRect(3, 3, WIDTH - 6, stamp_height - 6, 4, stroke=1, fill=0)
    top = stamp_height - _PADDING - _TITLE_SIZE
    drawing.setFont(bold, _TITLE_SIZE)
    drawing.drawCentredString(WIDTH / 2, top + 2, "RECIBIDO")
    drawing.setLineWidth(0.6)
    drawing.line(_PADDING, top - 3, WIDTH - _PADDING, top - 3)
    y = top - 3 - _LEADING
    for text, is_bold in lines:
        font = bold if is_bold else regular
        size = _fitting_size(text, font, WIDTH - 2 * _PADDING)
        drawing.setFont(font, size)
        drawing.drawCentredString(WIDTH / 2, y + 1.5, text)
        y -= _LEADING
    drawing.showPage()
    drawing.save()
    return out.getvalue()


def _fitting_size(text: str, font: str, room: float) -> float:
    """The text size, shrunk if a long line (a long folio, say) would overflow the border."""
    width = pdfmetrics.stringWidth(text, font, _TEXT_SIZE)
    return _TEXT_SIZE if width <= room else _TEXT_SIZE * room / width


def _fonts() -> tuple[str, str]:
    """Register the stamp's TrueType fonts with reportlab once; return their names."""
    registered = pdfmetrics.getRegisteredFontNames()
    if FONT in registered and FONT_BOLD in registered:
        return FONT, FONT_BOLD
    for regular, bold in _FONT_FILES:
        if regular.is_file() and bold.is_file():
            # reportlab subsets and embeds TrueType fonts (FontFile2), as PDF/A requires
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold)))
            if regular.parent != _DEJAVU:
                logger.warning("DejaVu fonts not found in %s; the stamp uses Bitstream Vera", _DEJAVU)
            return FONT, FONT_BOLD
    raise FileNotFoundError("no TrueType font for the stamp: install fonts-dejavu-core")


def _visible_box(page: pikepdf.Page) -> _Box:
    """The CropBox clipped to the MediaBox (both inherited as needed), normalised."""
    media = _as_box(page.mediabox)
    crop = _as_box(page.cropbox)
    box = _Box(max(media.x0, crop.x0), max(media.y0, crop.y0), min(media.x1, crop.x1), min(media.y1, crop.y1))
    # a CropBox outside the MediaBox is an error in the file; fall back to the MediaBox
    return box if box.width > 0 and box.height > 0 else media


def _as_box(array: pikepdf.Array) -> _Box:
    x0, y0, x1, y1 = (float(value) for value in array)
    return _Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _rotation(page: pikepdf.Page) -> int:
    """The page's /Rotate (inheritable) as 0, 90, 180 or 270."""
    node: pikepdf.Object | None = page.obj
    for _ in range(64):
        if not isinstance(node, pikepdf.Dictionary):
            break
        value = node.get("/Rotate")
        if value is not None:
            try:
                return int(value) % 360 // 90 * 90
            except (TypeError, ValueError):
                return 0
        node = node.get("/Parent")
    return 0


def _save(document: pikepdf.Pdf) -> bytes:
    """Save; a PDF/A input goes through pikepdf's PDF/A writer, which checks the bytes it writes."""
    flavour = _pdfa_flavour(document)
    if flavour is not None:
        try:
            from pikepdf.pdfa import PdfaError
            from pikepdf.pdfa import save as save_pdfa
        except ImportError:
            logger.warning("pikepdf's PDF/A support is not installed; the stamped copy is not re-validated")
        else:
            out = io.BytesIO()
            try:
                save_pdfa(document, out, flavour, repair=False)
            except PdfaError as e:
                # the copy was PDF/A before the stamp was added; say so loudly, and keep going
                logger.warning("The stamped copy did not pass PDF/A-%s validation:\n%s", flavour, e.report.summary())
            else:
                return out.getvalue()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdfa_flavour(document: pikepdf.Pdf) -> str | None:
    status = document.open_metadata().pdfa_status
    flavour = status.lower()
    return flavour if flavour in ("1b", "2b", "3b") else None
