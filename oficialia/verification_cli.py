"""Command line of the verifier: ``flask --app app verify FILE.pdf [--json] [--pdf REPORT.pdf]``
(exit 0 valid, 1 not valid, 2 cannot verify) and the trust store, ``trust add CERT [--note]``,
``trust list``, ``trust remove FINGERPRINT``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from firma.report import CHANGE_LABELS, ChangeKind, Verdict

from . import trust
from .db import db, utcnow
from .errors import OficialiaError
from .verification import get_verifier, report_json, verify_upload
from .verification_report import build_report_pdf

EXIT_CODES = {Verdict.VALID: 0, Verdict.NOT_VALID: 1, Verdict.CANNOT_VERIFY: 2}

trust_cli = AppGroup("trust", help="Almacén de confianza del verificador de firmas.")


@trust_cli.command("add")
@click.argument("cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", default="", help="Por qué se confía en este certificado.")
def trust_add_command(cert: Path, note: str) -> None:
    """Trust a root or issuing CA certificate (PEM, possibly several, or DER)."""
    try:
        added = trust.add_trust_anchor(db.session, cert.read_bytes(), actor=None,
                                       note=note or f"Añadido desde la línea de comandos ({cert.name})")
        db.session.commit()
    except OficialiaError as e:
        db.session.rollback()
        raise click.ClickException(e.message) from e
    for anchor in added:
        click.echo(f"De confianza: {anchor.subject} [{anchor.kind_label}] SHA-256 {anchor.fingerprint}")


@trust_cli.command("list")
def trust_list_command() -> None:
    """What the verifier trusts, and why."""
    anchors = trust.list_trust_anchors(db.session)
    if not anchors:
        click.echo("El almacén de confianza está vacío.")
    for a in anchors:
        state = "activo" if a.active else "inactivo"
        click.echo(f"{a.fingerprint}  {state:<8} {a.kind_label:<20} {a.subject}  (vence {a.not_after:%Y-%m-%d}) "
                   f"— {a.note or 'sin nota'}")


@trust_cli.command("remove")
@click.argument("fingerprint")
def trust_remove_command(fingerprint: str) -> None:
    """Stop trusting the certificate with this SHA-256 fingerprint (kept, inactive)."""
    from sqlalchemy import select

    from .models import TrustAnchor

    anchor = db.session.execute(
        select(TrustAnchor).where(TrustAnchor.fingerprint == fingerprint.strip().lower())).scalar_one_or_none()
    if anchor is None:
        raise click.ClickException("No hay ningún certificado con esa huella en el almacén.")
    trust.deactivate_trust_anchor(db.session, anchor.id, actor=None)
    db.session.commit()
    click.echo(f"Ya no se confía en {anchor.subject}.")


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Informe en JSON (el mismo que da la API).")
@click.option("--pdf", "pdf_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Escribir además el informe en PDF (sellado si hay sello institucional).")
@click.option("--folio", default=None, help="Comparar con los documentos emitidos para este folio.")
@with_appcontext
def verify_command(file: Path, as_json: bool, pdf_out: Path | None, folio: str | None) -> None:
    """Verify the signatures of FILE; exit 0 valid, 1 not valid, 2 cannot verify."""
    try:
        result = verify_upload(db.session, file.read_bytes(), verifier=get_verifier(), config=current_app.config,
                               folio=folio)
    except OficialiaError as e:
        click.echo(f"NO SE PUEDE VERIFICAR: {e.message}", err=True)
        sys.exit(EXIT_CODES[Verdict.CANNOT_VERIFY])
    report = result.report
    if pdf_out is not None:
        pdf, _sealed = build_report_pdf(result, institution=str(current_app.config["INSTITUTION"]),
                                        generated_at=utcnow())
        pdf_out.write_bytes(pdf)
    if as_json:
        click.echo(json.dumps(report_json(result), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report.verdict_label}: {report.reason}")
        click.echo(f"Indicación: {report.indication.value}"
                   + (f" / {report.sub_indication}" if report.sub_indication else ""))
        click.echo(f"SHA-256: {report.sha256}")
        if result.issued:
            click.echo(f"Emitido por esta institución: {result.issued.label}, folio {result.issued.folio}.")
        for number, sig in enumerate(report.signatures, start=1):
            who = sig.signer.display_name if sig.signer else "—"
            rfc = f" (RFC {sig.signer.rfc})" if sig.signer and sig.signer.rfc else ""
            click.echo(f"  {number}. {who}{rfc}: {sig.verdict_label} — {sig.reason}")
            click.echo(f"     íntegra: {'sí' if sig.intact else 'NO'}; de confianza: {'sí' if sig.trusted else 'no'}; "
                       f"nivel {sig.level}; cambios después: {CHANGE_LABELS[sig.changes_after_signing]}")
        for change in report.changes_after_last:
            if change.kind is not ChangeKind.SIGNATURES:
                where = f" (página {change.page})" if change.page else ""
                click.echo(f"  cambio posterior: {change.description}{where}")
    sys.exit(EXIT_CODES[report.verdict])


def register_verification_cli(app: Flask) -> None:
    app.cli.add_command(trust_cli)
    app.cli.add_command(verify_command)
