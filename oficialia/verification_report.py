"""The verification report as a PDF a person can file: verdict, reason, each signature, every
change after signing, and whether the product issued the file. Sealed by the institution when
sealing is available (:func:`seal_report`), so the report itself can be verified."""

from __future__ import annotations

import io
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from firma.report import CHANGE_LABELS, Verdict

from .verification import VerificationResult

_VERDICT_COLOURS = {Verdict.VALID: colors.HexColor("#146c43"), Verdict.NOT_VALID: colors.HexColor("#b02a37"),
                    Verdict.CANNOT_VERIFY: colors.HexColor("#997404")}


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment else "—"


def render_report_pdf(result: VerificationResult, *, institution: str, generated_at: datetime,
                      sealed_note: str = "") -> bytes:
    """Render the report (Helvetica, A4) as PDF bytes."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    report = result.report
    verdict_style = ParagraphStyle("verdict", parent=styles["Title"], textColor=_VERDICT_COLOURS[report.verdict])

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    story = [p(institution, styles["Heading3"]),
             p("Informe de verificación de firmas electrónicas", styles["Heading1"]),
             Paragraph(escape(report.verdict_label), verdict_style), p(report.reason),
             p(f"Indicación (ETSI EN 319 102-1): {report.indication.value}"
               + (f" / {report.sub_indication}" if report.sub_indication else ""), small),
             p(f"SHA-256 del archivo: {report.sha256} · {report.size} bytes", small),
             p(f"Generado: {_fmt(generated_at)}", small), Spacer(1, 4 * mm)]
    if result.issued is not None:
        story.append(p(f"Documento emitido por esta institución: {result.issued.label}, folio {result.issued.folio}, "
                       f"emitido {_fmt(result.issued.issued_at)}. La huella SHA-256 coincide con la registrada."))
    elif result.sealed_by_us:
        story.append(p("El documento lleva el sello electrónico de esta institución y no ha cambiado desde que se "
                       "selló."))
    elif result.folio is not None:
        story.append(p(f"El archivo NO coincide con ningún documento emitido para el folio {result.folio}."))
    else:
        story.append(p("El archivo no coincide con ningún documento emitido por esta institución "
                       "(puede ser de otro emisor o haber sido modificado)."))
    story.append(Spacer(1, 4 * mm))
    for number, sig in enumerate(report.signatures, start=1):
        signer = sig.signer
        rows = [
            ["Firmante", signer.display_name if signer else "—"],
            ["RFC / CURP", f"{signer.rfc or '—'} / {signer.curp or '—'}" if signer else "—"],
            ["Organización", (signer.organisation if signer else "") or "—"],
            ["Número de serie", signer.serial if signer else "—"],
            ["Cadena", " ← ".join(c.common_name or c.subject for c in sig.chain) or "—"],
            ["Fecha declarada", _fmt(sig.claimed_time)],
            ["Sello de tiempo", _fmt(sig.timestamp_time)],
            ["Integridad", "íntegra" if sig.intact else "ALTERADA"],
            ["Cobertura", sig.coverage],
            ["Cambios posteriores", CHANGE_LABELS[sig.changes_after_signing]],
            ["Certificación (DocMDP)", sig.docmdp or "—"],
            ["Confianza", "de confianza" if sig.trusted else f"no establecida {sig.trust_problem}".strip()],
            ["Revocación", sig.revocation_detail or sig.revocation],
            ["Nivel PAdES", sig.level],
            ["Indicación", f"{sig.indication.value} {sig.sub_indication}".strip()],
            ["Resultado", f"{sig.verdict_label}: {sig.reason}"],
        ]
        table = Table([[p(a, small), p(b)] for a, b in rows], colWidths=[40 * mm, 130 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f1f3f5"))]))
        kind = "Sello de tiempo del documento" if sig.kind == "timestamp" else "Firma"
        story += [p(f"{kind} {number}: «{sig.field_name}»", styles["Heading3"]), table, Spacer(1, 3 * mm)]
    if report.changes_after_last:
        story.append(p("Cambios después de la última firma", styles["Heading3"]))
        for change in report.changes_after_last:
            where = f"página {change.page}, " if change.page else ""
            story.append(p(f"• {change.description} ({where}objeto {change.object or '—'}, "
                           f"revisión {change.revision})"))
    for note in report.notes:
        story.append(p(f"Nota: {note}", small))
    story += [Spacer(1, 6 * mm), p(sealed_note or "Este informe no lleva sello electrónico de la institución.", small)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title="Informe de verificación", author=institution,
                      leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm).build(story)
    return out.getvalue()


def build_report_pdf(result: VerificationResult, *, institution: str, generated_at: datetime) -> tuple[bytes, bool]:
    """The PDF report, sealed by the institution when a seal is configured (``oficialia.signing``).

    :return: the PDF and whether it carries the institution's seal.
    """
    import firma

    from . import signing

    if signing.seal_configured():
        pdf = render_report_pdf(result, institution=institution, generated_at=generated_at,
                                sealed_note="Informe sellado electrónicamente por la institución; puede verificarlo "
                                            "en la misma página de verificación.")
        try:
            return signing.seal_pdf(pdf, folio="").data, True
        except firma.FirmaError as e:  # the seal cannot be used now: the report is still useful, unsealed
            import logging

            logging.getLogger("oficialia.verification").warning("verification report not sealed: %s", e)
    return render_report_pdf(result, institution=institution, generated_at=generated_at), False
