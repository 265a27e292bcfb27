"""The acuse de recibo: the official receipt a filer gets when the mail-room receives a filing.

This module owns the layout of that receipt and nothing else: :func:`render_receipt` turns a
:class:`ReceiptData` value into the bytes of a PDF, the electronic counterpart of the stamped copy a
paper mail-room hands back. It is a pure function with no Flask, no database and no storage: the
intake service gathers the data, and sealing the PDF with the institution's certificate happens
afterwards in ``firma``. The same data always gives byte-identical PDFs (ReportLab's *invariant*
mode), so a receipt can be regenerated and compared at any time.

The PDF uses the built-in Helvetica and Courier fonts (WinAnsi encoding), which cover Spanish in
full; characters outside that encoding are folded to their base letter when one exists.
"""

from __future__ import annotations

import html
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import qrcode
import qrcode.constants
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    HRFlowable,
    Image,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

__all__ = ["ReceiptData", "ReceiptDocument", "render_receipt"]


@dataclass(frozen=True)
class ReceiptDocument:
    """One electronic document received with the filing."""

    #: display name, already sanitized by intake
    filename: str
    pages: int
    #: size in bytes
    size: int
    #: SHA-256 of the original as received, in hex
    sha256: str


@dataclass(frozen=True)
class ReceiptData:
    """Everything printed on an acuse de recibo."""

    #: e.g. "H. Ayuntamiento de San Miguel"
    institution: str
    #: e.g. "Oficialía de Partes"
    office: str
    folio: str
    #: aware datetime, already in the local time zone
    received_at: datetime
    #: e.g. "America/Mexico_City"
    timezone_label: str
    filer_name: str
    #: ``fisica`` or ``moral``
    filer_kind: str
    subject: str
    #: ``web``, ``ventanilla``, ``api``, ...
    channel: str
    #: addressee department's name
    department: str | None
    #: procedure's name
    procedure: str | None
    #: the clerk who received it at the window; ``None`` for online filings
    received_by: str | None
    documents: tuple[ReceiptDocument, ...]
    #: annexes received on paper, as noted by the clerk
    physical_annexes: str | None
    #: the secret tracking code, known only when the receipt is first issued
    tracking_code: str | None
    #: the public tracking page the QR code opens
    tracking_url: str
    #: the fee and its bank reference, for procedures with a fee
    payment: str | None = None


_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)

_FILER_KINDS = {"fisica": "Persona física", "moral": "Persona moral"}

# The same labels as ``models.CHANNEL_LABELS``, kept here so the renderer stays free of the ORM.
_CHANNELS = {
    "web": "Portal web",
    "ventanilla": "Ventanilla",
    "api": "API",
    "chatbot": "Chatbot",
    "app": "Aplicación móvil",
    "telefono": "Centro de atención telefónica",
    "correo": "Correo electrónico",
    "interinstitucional": "Otra dependencia",
}

LEGEND = "Este acuse acredita la recepción del escrito y sus anexos; no prejuzga sobre la procedencia de lo solicitado."
LEGEND_TRACKING = "Consulte el estado de su trámite con el folio y el código de seguimiento."
NO_TRACKING_CODE = "Código de seguimiento: entregado al presentante"

# A sober palette: near-black text, one dark slate accent for rules and headings, light grey fills.
_INK = colors.HexColor("#1A1A1A")
_ACCENT = colors.HexColor("#23313F")
_MUTED = colors.HexColor("#5B6470")
_RULE = colors.HexColor("#B8BEC6")
_FILL = colors.HexColor("#EEF0F3")

_MARGIN_X = 18 * mm
_MARGIN_TOP = 16 * mm
# Room for the legend, the folio and the page number drawn by the page callbacks.
_MARGIN_BOTTOM = 27 * mm


def _style(name: str, **kwargs: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": "Helvetica", "fontSize": 9, "leading": 11.5, "textColor": _INK}
    base.update(kwargs)
    return ParagraphStyle(name, **base)


_S_INSTITUTION = _style("institution", fontName="Helvetica-Bold", fontSize=13.5, leading=16.5, textColor=_ACCENT)
_S_OFFICE = _style("office", fontSize=10.5, leading=13, textColor=_ACCENT)
_S_OFFICE_NOTE = _style("office-note", fontSize=7.5, leading=9.5, textColor=_MUTED)
_S_BOX_LABEL = _style("box-label", fontName="Helvetica-Bold", fontSize=7, leading=9, textColor=_MUTED)
_S_FOLIO = _style("folio", fontName="Helvetica-Bold", fontSize=17, leading=20, textColor=_INK)
_S_STAMP = _style("stamp", fontSize=7.5, leading=9.5, textColor=_INK)
_S_TITLE = _style("title", fontName="Helvetica-Bold", fontSize=16, leading=20, alignment=TA_CENTER, textColor=_ACCENT)
_S_INTRO = _style("intro", fontSize=8.5, leading=11, alignment=TA_JUSTIFY, textColor=_MUTED)
_S_SECTION = _style("section", fontName="Helvetica-Bold", fontSize=8.5, leading=11, textColor=_ACCENT)
_S_LABEL = _style("label", fontName="Helvetica-Bold", fontSize=8, leading=11, textColor=_MUTED)
_S_VALUE = _style("value", fontSize=9.5, leading=12)
_S_VALUE_BOLD = _style("value-bold", fontName="Helvetica-Bold", fontSize=9.5, leading=12)
_S_TD = _style("td", fontSize=8.5, leading=10.5)
_S_TD_BOLD = _style("td-bold", parent=_S_TD, fontName="Helvetica-Bold")
_S_HASH = _style("hash", fontName="Courier", fontSize=7, leading=9, textColor=_MUTED)
_S_CODE = _style("code", fontName="Courier-Bold", fontSize=15, leading=19, alignment=TA_CENTER)
_S_CODE_MISSING = _style("code-missing", fontName="Helvetica-Bold", fontSize=9.5, leading=12, alignment=TA_CENTER)
_S_NOTE = _style("note", fontSize=7.5, leading=9.5, textColor=_MUTED)
_S_URL = _style("url", fontName="Courier", fontSize=6.5, leading=8, alignment=TA_CENTER, textColor=_MUTED)
_S_QR_CAPTION = _style(
    "qr-caption", fontName="Helvetica-Bold", fontSize=7, leading=9, alignment=TA_CENTER, textColor=_MUTED
)

_QR_SIZE = 34 * mm
_QR_PIXELS_PER_MODULE = 6
#: the QR panel is wider than the code so the tracking URL under it wraps in few lines
_QR_PANEL = 54 * mm


def format_received_at(moment: datetime, timezone_label: str) -> str:
    """Spell a reception time the way the receipt prints it, without relying on the locale.

    :param moment: an aware datetime, already in the local time zone.
    :param timezone_label: the IANA name shown in parentheses.
    :return: e.g. ``"21 de noviembre de 2026, 10:42:05 h (America/Mexico_City)"``.
    """
    return f"{moment.day} de {_MONTHS[moment.month - 1]} de {moment.year}, {moment:%H:%M:%S} h ({timezone_label})"


def format_size(size: int) -> str:
    """Human-readable size in bytes, KB or MB (binary multiples, decimal point as used in Mexico)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{size / (1024 * 1024):,.2f} MB"


def _fold(text: str, *, multiline: bool = False) -> str:
    """Make text printable with the built-in fonts.

    Control characters go (they would corrupt the text layer), and characters outside WinAnsi are
    folded to their base letter ("ễ" -> "e") when one exists; the rest is left for ReportLab,
    which prints a visible placeholder instead of dropping it silently.
    """
    out: list[str] = []
    for char in text:
        if char == "\n" and multiline:
            out.append(char)
        elif unicodedata.category(char)[0] == "C" or char in "\u2028\u2029":
            out.append(" ")
        elif char.isascii():
            out.append(char)
        else:
            try:
                char.encode("cp1252")
            except UnicodeEncodeError:
                base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
                try:
                    base.encode("cp1252")
                except UnicodeEncodeError:
                    base = ""
                out.append(base or char)
            else:
                out.append(char)
    return "".join(out)


def _markup(text: str, *, multiline: bool = False) -> str:
    """Escape user text for a :class:`Paragraph`, so ``<script>&`` prints literally."""
    folded = _fold(text, multiline=multiline)
    if multiline:
        lines = [" ".join(line.split()) for line in folded.strip().splitlines()]
        return "<br/>".join(html.escape(line, quote=False) for line in lines)
    return html.escape(" ".join(folded.split()), quote=False)


def qr_png(url: str, pixels_per_module: int = _QR_PIXELS_PER_MODULE) -> bytes:
    """A QR code of ``url`` as a grayscale PNG, for the acuse and for web pages (turn tickets)."""
    # A two-module margin of its own plus the white panel around it give the quiet zone a scanner needs.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    modules = len(matrix)
    # Grayscale rather than qrcode's 1-bit image, which ReportLab would widen to RGB; each module
    # is scaled to a block of pixels so that viewers which smooth images still print sharp edges.
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    image = PILImage.frombytes("L", (modules, modules), pixels).resize(
        (modules * pixels_per_module, modules * pixels_per_module), PILImage.Resampling.NEAREST
    )
    png = io.BytesIO()
    image.save(png, format="PNG")
    return png.getvalue()


def _qr_image(url: str) -> Image:
    """The QR code that opens the tracking page, as a PNG image flowable."""
    return Image(io.BytesIO(qr_png(url)), width=_QR_SIZE, height=_QR_SIZE)


def _header(data: ReceiptData, width: float) -> Table:
    """Institution and office on the left; on the right, the folio box, like a reception stamp."""
    received = data.received_at
    stamp = Table(
        [
            [Paragraph("FOLIO", _S_BOX_LABEL)],
            [Paragraph(_markup(data.folio), _S_FOLIO)],
            [Paragraph(f"<b>RECIBIDO</b> {received:%d/%m/%Y} · {received:%H:%M:%S} h", _S_STAMP)],
        ],
        colWidths=[64 * mm],
        style=TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.2, _ACCENT),
                ("LINEABOVE", (0, 2), (-1, 2), 0.5, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 7),
                ("RIGHTPADDING", (0, 0), (-1, -1), 7),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, 0), 5),
                ("BOTTOMPADDING", (0, 1), (-1, 1), 5),
                ("TOPPADDING", (0, 2), (-1, 2), 4),
                ("BOTTOMPADDING", (0, 2), (-1, 2), 5),
            ]
        ),
    )
    left = [
        Paragraph(_markup(data.institution), _S_INSTITUTION),
        Paragraph(_markup(data.office), _S_OFFICE),
        Spacer(1, 2),
        Paragraph("Recepción de escritos, promociones y documentos", _S_OFFICE_NOTE),
    ]
    return Table(
        [[left, stamp]],
        colWidths=[width - 64 * mm, 64 * mm],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        ),
    )


def _details(data: ReceiptData, width: float) -> Table:
    """The label/value table: when, how, from whom, what and for whom."""
    kind = _FILER_KINDS.get(data.filer_kind, data.filer_kind)
    channel = _CHANNELS.get(data.channel.lower(), data.channel)
    rows: list[tuple[str, str, ParagraphStyle]] = [
        (
            "Fecha y hora de recepción",
            _markup(format_received_at(data.received_at, data.timezone_label)),
            _S_VALUE_BOLD,
        ),
        ("Medio de recepción", _markup(channel), _S_VALUE),
        ("Recibió", _markup(data.received_by) if data.received_by else "Recepción electrónica", _S_VALUE),
        ("Presentante", _markup(data.filer_name), _S_VALUE_BOLD),
        ("Tipo de persona", _markup(kind), _S_VALUE),
        ("Asunto", _markup(data.subject), _S_VALUE),
        ("Área destinataria", _markup(data.department) if data.department else "No especificada", _S_VALUE),
        ("Trámite", _markup(data.procedure) if data.procedure else "No especificado", _S_VALUE),
    ]
    if data.payment:
        rows.append(("Pago de derechos", _markup(data.payment), _S_VALUE_BOLD))
    label_width = 44 * mm
    return Table(
        # Labels are plain strings (no wrapping needed): ReportLab draws those far faster than paragraphs.
        [[label, Paragraph(value, style)] for label, value, style in rows],
        colWidths=[label_width, width - label_width],
        # An unusually long subject may be taller than a page: let its row continue on the next one.
        splitInRow=1,
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 8, 11),
                ("TEXTCOLOR", (0, 0), (0, -1), _MUTED),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, _RULE),
                ("LINEABOVE", (0, 0), (-1, 0), 0.8, _ACCENT),
                ("BACKGROUND", (0, 0), (0, -1), _FILL),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        ),
    )


def _documents(documents: tuple[ReceiptDocument, ...], width: float) -> Table:
    """One row per document; the digest sits under the name so all 64 hex digits fit on one line."""
    number_w, pages_w, size_w = 10 * mm, 17 * mm, 22 * mm
    rows: list[list[Any]] = [
        [
            "No.",
            "Documento y huella digital (SHA-256)",
            "Páginas",
            "Tamaño",
        ]
    ]
    for index, document in enumerate(documents, start=1):
        rows.append(
            [
                str(index),
                [
                    Paragraph(_markup(document.filename), _S_TD),
                    Paragraph(f'<font name="Helvetica" size="6.5">SHA-256</font>  {_markup(document.sha256)}', _S_HASH),
                ],
                f"{document.pages:,}",
                format_size(document.size),
            ]
        )
    if not documents:
        rows.append(["", Paragraph("No se recibieron documentos electrónicos.", _S_TD), "", ""])
    count = len(documents)
    rows.append(
        [
            "",
            Paragraph(
                f"Total: {count} documento{'' if count == 1 else 's'} electrónico{'' if count == 1 else 's'}",
                _S_TD_BOLD,
            ),
            f"{sum(d.pages for d in documents):,}",
            format_size(sum(d.size for d in documents)),
        ]
    )
    return Table(
        rows,
        colWidths=[number_w, width - number_w - pages_w - size_w, pages_w, size_w],
        repeatRows=1,
        style=TableStyle(
            [
                # Cells that never wrap are plain strings, styled here; only names and digests are paragraphs.
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5, 9.5),
                ("TEXTCOLOR", (0, 0), (-1, 0), _ACCENT),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8.5, 10.5),
                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 8.5, 10.5),
                ("TEXTCOLOR", (0, 1), (-1, -1), _INK),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), _FILL),
                ("LINEABOVE", (0, 0), (-1, 0), 0.8, _ACCENT),
                ("LINEBELOW", (0, 0), (-1, -2), 0.4, _RULE),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, _ACCENT),
                ("LINEBELOW", (0, -1), (-1, -1), 0.8, _ACCENT),
                # never leave the total alone on a page: it travels with the last document
                ("NOSPLIT", (0, -2), (-1, -1)),
                ("LEFTPADDING", (0, 0), (-1, -1), 5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 5),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ]
        ),
    )


def _annexes(text: str, width: float) -> Table:
    """The clerk's note of what was received on paper."""
    return Table(
        [[Paragraph("Anexos recibidos en físico", _S_LABEL), Paragraph(_markup(text, multiline=True), _S_VALUE)]],
        colWidths=[44 * mm, width - 44 * mm],
        splitInRow=1,
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), _FILL),
                ("BOX", (0, 0), (-1, -1), 0.4, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 3.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        ),
    )


def _tracking(data: ReceiptData, width: float) -> Table:
    """The tracking code in a box, next to the QR code that opens the public tracking page."""
    qr_width = _QR_PANEL
    code_width = width - qr_width - 6 * mm
    if data.tracking_code:
        code: Paragraph = Paragraph(_markup(data.tracking_code), _S_CODE)
        note = (
            "Guarde este código en un lugar seguro: por su seguridad no se vuelve a mostrar. "
            "Con el folio y este código puede consultar el estado de su trámite en cualquier momento."
        )
    else:
        code = Paragraph(NO_TRACKING_CODE, _S_CODE_MISSING)
        note = "El código se entregó al presentante al recibir el escrito; no se reproduce en esta copia."
    code_box = Table(
        [[code]],
        colWidths=[code_width - 12],
        style=TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.4, _ACCENT),
                ("BACKGROUND", (0, 0), (-1, -1), colors.white),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        ),
    )
    left = [
        Paragraph("CÓDIGO DE SEGUIMIENTO", _S_SECTION),
        Spacer(1, 4),
        code_box,
        Spacer(1, 5),
        Paragraph(note, _S_NOTE),
        Spacer(1, 4),
        Paragraph(
            f"Para consultar su trámite, escanee el código QR o abra la dirección indicada e ingrese el folio "
            f"<b>{_markup(data.folio)}</b>{' y este código' if data.tracking_code else ' y su código'}.",
            _S_NOTE,
        ),
    ]
    url = html.escape(_fold(data.tracking_url), quote=True)
    right = [
        _qr_image(data.tracking_url),
        Spacer(1, 3),
        Paragraph("Consulte su trámite", _S_QR_CAPTION),
        Paragraph(f'<a href="{url}">{url}</a>', _S_URL),
    ]
    return Table(
        [[left, "", right]],
        colWidths=[code_width, 6 * mm, qr_width],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (2, 0), (2, 0), "CENTER"),
                ("BACKGROUND", (0, 0), (0, 0), _FILL),
                ("BOX", (0, 0), (0, 0), 0.4, _RULE),
                ("BOX", (2, 0), (2, 0), 0.4, _RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 7),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        ),
    )


def _section(title: str) -> list[Flowable]:
    return [Spacer(1, 9), Paragraph(title, _S_SECTION), Spacer(1, 3)]


def _draw_page(canvas: Canvas, doc: BaseDocTemplate, *, data: ReceiptData, first: bool) -> None:
    """Page furniture: a running header after the first page, and the legend in every footer."""
    page_width, _ = doc.pagesize
    left, right = doc.leftMargin, page_width - doc.rightMargin
    canvas.saveState()
    if not first:
        top = doc.pagesize[1] - 10 * mm
        canvas.setFont("Helvetica-Bold", 8)
        canvas.setFillColor(_ACCENT)
        canvas.drawString(left, top, f"ACUSE DE RECIBO · Folio {_fold(data.folio)}")
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(_MUTED)
        canvas.drawRightString(right, top, _fold(f"{data.institution} · {data.office}"))
        canvas.setStrokeColor(_RULE)
        canvas.setLineWidth(0.5)
        canvas.line(left, top - 3 * mm, right, top - 3 * mm)
    canvas.setStrokeColor(_ACCENT)
    canvas.setLineWidth(0.8)
    canvas.line(left, 21 * mm, right, 21 * mm)
    canvas.setFillColor(_INK)
    canvas.setFont("Helvetica-Bold", 7.5)
    canvas.drawString(left, 17 * mm, LEGEND)
    canvas.setFont("Helvetica", 7.5)
    canvas.drawString(left, 13.5 * mm, LEGEND_TRACKING)
    canvas.setFillColor(_MUTED)
    canvas.setFont("Helvetica", 7)
    canvas.drawString(left, 8.5 * mm, _fold(f"Acuse de recibo · Folio {data.folio} · {data.institution}"))
    canvas.restoreState()


class _NumberedCanvas(Canvas):  # type: ignore[misc]
    """A canvas that holds its pages back until the end, so each can say "Página X de Y".

    The well-known ReportLab recipe: ``showPage`` keeps the page's state, and ``save`` replays
    every page once the total is known. Single-page receipts get no numbering.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # ReportLab's camelCase API
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            if total > 1:
                page_width = self._pagesize[0]
                self.setFont("Helvetica-Bold", 7)
                self.setFillColor(_ACCENT)
                self.drawRightString(page_width - _MARGIN_X, 8.5 * mm, f"Página {number} de {total}")
            super().showPage()
        super().save()


def render_receipt(data: ReceiptData, *, pagesize: tuple[float, float] = A4) -> bytes:
    """Render the acuse de recibo of a filing as a PDF.

    The output is deterministic: the same data gives the same bytes, because ReportLab runs in
    invariant mode (fixed dates and document id) and nothing else depends on the clock.

    :param data: what to print; all text is escaped, so user input prints literally.
    :param pagesize: ``reportlab.lib.pagesizes.A4`` (default) or ``LETTER``.
    :return: the PDF's bytes.
    :raises ValueError: if ``data.received_at`` is naive: a receipt without a time zone is
        ambiguous, and the caller must convert it to local time first.
    """
    if data.received_at.tzinfo is None or data.received_at.utcoffset() is None:
        raise ValueError("received_at must be an aware datetime in the local time zone")
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=_fold(f"Acuse de recibo {data.folio}"),
        author=_fold(data.institution),
        subject=_fold(f"Acuse de recibo del escrito «{' '.join(data.subject.split())}»"),
        creator="Oficialía de Partes Electrónica",
        keywords=_fold(f"acuse de recibo, {data.folio}"),
        lang="es-MX",
        invariant=1,
    )
    frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    # Later pages leave room for the running header above the body.
    later_frame = Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height - 5 * mm,
        id="body-later",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    # Furniture is drawn at the end of each page so the text layer reads body first, footer last.
    doc.addPageTemplates(
        [
            PageTemplate(
                "first", [frame], onPageEnd=partial(_draw_page, data=data, first=True), autoNextPageTemplate="later"
            ),
            PageTemplate("later", [later_frame], onPageEnd=partial(_draw_page, data=data, first=False)),
        ]
    )
    width = doc.width
    story: list[Flowable] = [
        _header(data, width),
        Spacer(1, 7),
        HRFlowable(width="100%", thickness=1.6, color=_ACCENT, spaceAfter=1.2),
        HRFlowable(width="100%", thickness=0.5, color=_ACCENT, spaceAfter=9),
        Paragraph("ACUSE DE RECIBO", _S_TITLE),
        Spacer(1, 4),
        Paragraph(
            "Se hace constar la recepción del escrito y de los documentos que se describen a "
            "continuación, en la fecha y hora indicadas. Cada documento electrónico se identifica "
            "por su huella digital SHA-256, que permite comprobar que no ha sido modificado.",
            _S_INTRO,
        ),
        *_section("DATOS DE LA RECEPCIÓN"),
        _details(data, width),
        *_section("DOCUMENTOS RECIBIDOS"),
        _documents(data.documents, width),
    ]
    if data.physical_annexes and data.physical_annexes.strip():
        story += [Spacer(1, 8), _annexes(data.physical_annexes, width)]
    story += [Spacer(1, 12), KeepTogether([_tracking(data, width)])]
    doc.build(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()
