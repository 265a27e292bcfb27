"""The official letter (oficio de respuesta): a response composed as text in a form, rendered as
a PDF ready to be signed.

This module owns the layout of that letter and nothing else: :func:`render_letter` turns a
:class:`LetterData` value into PDF bytes, with no Flask, no database and no storage. The
letterhead names the institution and the answering department; then the folio referred to, the
place and date, the addressee (the filer), the sense of the response, the text, and the bottom
of the last page left blank for the signature stamps ``firma`` draws there (the folio and page
number go at the top). The same data always gives byte-identical PDFs (ReportLab's *invariant*
mode).

Like the acuse, it uses the built-in Helvetica fonts (WinAnsi), which cover Spanish in full.
"""

from __future__ import annotations

import html
import io
import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib import colors
from reportlab.lib.enums import TA_JUSTIFY, TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate, Spacer

__all__ = ["LetterData", "render_letter"]

_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
           "octubre", "noviembre", "diciembre")

#: the visible stamps ``firma`` draws on the last page: two per row, from this far above the
#: bottom edge, each row this tall (stamp and gap), in points
STAMP_BOTTOM = 22.0
STAMP_ROW = 84.0
BOTTOM_MARGIN = 22 * mm


@dataclass(frozen=True)
class LetterData:
    """Everything printed on a response letter."""

    #: e.g. "H. Ayuntamiento de Villa Esperanza"
    institution: str
    #: the answering department's name
    department: str
    #: the filing answered
    folio: str
    #: the filing's subject, quoted in the reference line
    subject: str
    filer_name: str
    #: e.g. "Favorable"
    sense_label: str
    #: the body, paragraphs separated by blank lines
    text: str
    #: aware datetime in the local time zone: the date of the letter
    dated: datetime
    #: e.g. "Villa Esperanza" (place of the date line); empty for none
    place: str = ""
    #: the signers' names and positions, printed under the signature area
    signers: tuple[str, ...] = ()


def _fold(text: str) -> str:
    """Keep what WinAnsi can show; fold other characters to their base letter (or drop them)."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("cp1252", "ignore").decode("cp1252")
            out.append(base)
    return "".join(out)


def _p(text: str) -> str:
    return html.escape(_fold(text)).replace("\n", "<br/>")


def _long_date(moment: datetime) -> str:
    return f"{moment.day} de {_MONTHS[moment.month - 1]} de {moment.year}"


def _stamp_area(stamps: int) -> float:
    """Height to keep free above the bottom margin for ``stamps`` visible signatures."""
    rows = max(1, math.ceil(stamps / 2))
    needed: float = STAMP_BOTTOM + rows * STAMP_ROW - float(BOTTOM_MARGIN)
    return max(0.0, needed) + 6.0


def render_letter(data: LetterData) -> bytes:
    """Render the response letter.

    :param data: what to print; text is escaped, never interpreted as markup.
    :returns: the PDF's bytes.
    """
    buf = io.BytesIO()
    base = ParagraphStyle("body", fontName="Helvetica", fontSize=11, leading=15, alignment=TA_JUSTIFY,
                          spaceAfter=8)
    head = ParagraphStyle("head", parent=base, fontName="Helvetica-Bold", fontSize=14, leading=18,
                          alignment=0, spaceAfter=2)
    dept = ParagraphStyle("dept", parent=base, fontSize=11, textColor=colors.HexColor("#444444"), alignment=0)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT, spaceAfter=2)
    small = ParagraphStyle("small", parent=base, fontSize=9, leading=12, textColor=colors.HexColor("#555555"))

    story = [
        Paragraph(_p(data.institution), head),
        Paragraph(_p(data.department), dept),
        HRFlowable(width="100%", thickness=1.2, color=colors.HexColor("#611232"), spaceBefore=4, spaceAfter=10),
        Paragraph(f"<b>Folio de referencia:</b> {_p(data.folio)}", right),
        Paragraph(f"<b>Asunto:</b> respuesta a «{_p(data.subject)}»", right),
        Paragraph(f"<b>Sentido:</b> {_p(data.sense_label)}", right),
        Paragraph(_p(f"{data.place + ', a ' if data.place else ''}{_long_date(data.dated)}"), right),
        Spacer(1, 8 * mm),
        Paragraph(f"<b>{_p(data.filer_name)}</b><br/>Presente", ParagraphStyle("to", parent=base, alignment=0)),
        Spacer(1, 4 * mm),
    ]
    for block in data.text.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            story.append(Paragraph(_p(block.strip()), base))
    story += [Spacer(1, 6 * mm), Paragraph("Atentamente,", base)]
    if data.signers:
        story.append(Paragraph(_p(" · ".join(data.signers)), small))
    story += [
        Spacer(1, 4 * mm),
        Paragraph("Documento firmado con firma electrónica avanzada. Su integridad y la validez de las "
                  "firmas pueden verificarse con el folio en el portal de la Oficialía de Partes.", small),
        # the bottom of the last page stays free for the stamps: each signer's and the seal's
        Spacer(1, _stamp_area(len(data.signers) + 1)),
    ]

    def _header(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # at the top: the bottom of the last page belongs to the signature stamps
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#666666"))
        top = LETTER[1] - 11 * mm
        canvas.drawString(25 * mm, top, _fold(f"{data.institution} · {data.folio}"))
        canvas.drawRightString(LETTER[0] - 25 * mm, top, f"Página {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(buf, pagesize=LETTER, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=20 * mm,
                            bottomMargin=BOTTOM_MARGIN, title=_fold(f"Respuesta al folio {data.folio}"),
                            author=_fold(data.institution), invariant=1)
    doc.build(story, onFirstPage=_header, onLaterPages=_header)
    return buf.getvalue()
