"""Command line (``flask --app app …``): users, tokens, departments, demo data, logbook check."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from workflows.logbook import verify_chain

from . import auth, catalogue, demo
from .db import db
from .errors import OficialiaError
from .models import ROLE_LABELS, Role, User


def _fail(e: OficialiaError) -> None:
    db.session.rollback()
    raise click.ClickException(e.message)


users_cli = AppGroup("users", help="Cuentas de usuario.")
tokens_cli = AppGroup("tokens", help="Tokens de la API.")
departments_cli = AppGroup("departments", help="Áreas de la administración.")
logbook_cli = AppGroup("logbook", help="Bitácora encadenada.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--department", "department_code", default=None, help="Clave del área.")
@click.option("--password", default=None, help="Contraseña (si se omite, se pide).")
@click.option("--name", default=None)
@click.option("--rfc", default=None, help="RFC del firmante (debe coincidir con su e.firma).")
def create_user_command(email: str, role: str, department_code: str | None, password: str | None,
                        name: str | None, rfc: str | None) -> None:
    """Create a user."""
    if password is None and sys.stdin.isatty():
        password = click.prompt("Contraseña", hide_input=True, confirmation_prompt=True)
    try:
        user = auth.create_user(db.session, email=email, name=name or email, role=Role(role), password=password,
                                department_code=department_code, rfc=rfc)
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    click.echo(f"Usuario creado: {user.email} ({ROLE_LABELS[user.role]})")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="Para qué o quién es el token.")
@click.option("--scope", "scopes", multiple=True,
              help="Alcance: file, track, act, sign, stats (repetible). Sin él: todos los del rol del usuario.")
@click.option("--channel", default=None,
              help="Canal que registran sus escritos: chatbot, app, telefono, correo, interinstitucional, api.")
def create_token_command(email: str, name: str, scopes: tuple[str, ...], channel: str | None) -> None:
    """Issue an API token; it is printed once, as the last word."""
    from . import tokens

    user = db.session.execute(db.select(User).where(User.email == auth.normalize_email(email))).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"No existe el usuario {email}.")
    try:
        row, token = tokens.issue_token(db.session, user, name=name, scopes=scopes, channel=channel)
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    channel_text = f", canal {row.channel.value}" if row.channel else ""
    click.echo(f"Token para {user.email} (alcances: {row.scopes}{channel_text}; guárdelo: no se volverá a "
               f"mostrar): {token}")


@tokens_cli.command("list")
def list_tokens_command() -> None:
    """List tokens (prefix, user, scopes, channel, state)."""
    from . import tokens

    for t in tokens.list_tokens(db.session):
        state = "revocado" if t.revoked_at else "activo"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.user.email}\t{t.name}\t{t.scopes}\t"
                   f"{t.channel.value if t.channel else '-'}\t{state}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token_command(token_id: int) -> None:
    """Revoke the token TOKEN_ID (see ``tokens list``)."""
    from . import tokens

    try:
        row = tokens.revoke_token(db.session, token_id)
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    click.echo(f"Token {row.prefix}… revocado.")


webhooks_cli = AppGroup("webhooks", help="Webhooks de los integradores.")


@webhooks_cli.command("sweep")
def webhooks_sweep_command() -> None:
    """Queue the webhook deliveries that are due (retries after back-off)."""
    from . import webhooks

    click.echo(f"Entregas en cola: {webhooks.sweep(db.session)}.")


@departments_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--parent", default=None, help="Clave del área superior.")
def create_department_command(code: str, name: str, parent: str | None) -> None:
    """Create a department."""
    try:
        dept = catalogue.save_department(db.session, code=code, name=name, parent_code=parent)
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    click.echo(f"Área creada: {dept.code} — {dept.name}")


@logbook_cli.command("verify")
def verify_logbook_command() -> None:
    """Recompute the hash chain; exit 0 if intact, 1 if not."""
    report = verify_chain(db.session)
    if report.ok:
        click.echo(f"Bitácora íntegra: {report.entries} asientos verificados.")
        return
    click.echo(f"BITÁCORA ALTERADA: el asiento {report.first_bad} no verifica ({report.reason}).", err=True)
    sys.exit(1)


@click.command("demo")
@click.option("--filings", type=click.IntRange(min=0), default=0,
              help="Además, genera este número de escritos históricos para las estadísticas.")
@click.option("--years", type=click.IntRange(min=1, max=20), default=3, help="Años de historia (anteriores al actual).")
@with_appcontext
def demo_command(filings: int, years: int) -> None:
    """Seed the demo municipality and print the demo accounts."""
    try:
        accounts = demo.seed_demo(db.session)
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    if filings:
        from .stats_cli import make_history
        make_history(filings, years)
    click.echo("Datos de demostración listos. Cuentas (contraseña para todas: "
               f"{demo.DEMO_PASSWORD}):")
    for account in accounts:
        click.echo(f"  {ROLE_LABELS[account.role]:<22} {account.email}")
    _demo_pki()
    _trust_demo_pki()
    _demo_response()


def _demo_pki() -> None:
    from flask import current_app

    from . import signing

    files = demo.ensure_demo_pki(signing.pki_dir(), institution=str(current_app.config["INSTITUTION"]))
    state = "creada" if files.created else "ya existía"
    click.echo(f"PKI de demostración ({state}) en {files.folder}: sello de la institución y raíz de confianza.")
    for email, path in files.signers:
        click.echo(f"  e.firma de demostración de {email}: {path} (contraseña: {demo.DEMO_SIGNER_PASSWORD})")


def _demo_response() -> None:
    from flask import current_app

    from firma import FirmaError
    from workflows.errors import WorkflowError

    from . import signing
    from .demo_responses import seed_answered_filing
    from .extensions import get_store

    try:
        answered = seed_answered_filing(
            db.session, get_store(), current_app.config, pki_folder=signing.pki_dir(),
            signer_password=demo.DEMO_SIGNER_PASSWORD, signing=signing.signing_settings(),
            trust=signing.trust_settings())
    except (OficialiaError, FirmaError, WorkflowError) as e:
        db.session.rollback()
        click.echo(f"No se pudo preparar el escrito respondido de demostración: {e.message}", err=True)
        return
    code = f", código de seguimiento {answered.tracking_code}" if answered.tracking_code else ""
    click.echo(f"Escrito respondido con una respuesta firmada y sellada: folio {answered.folio}{code}.")


def _trust_demo_pki() -> None:
    """Put the demo PKI's CAs (``<instance>/pki/trust/``, written by the step above) into the
    verifier's trust store; idempotent, and nothing to do when that folder does not exist."""
    from . import signing
    from .trust import import_trust_folder

    folder = signing.trust_dir()
    try:
        count = import_trust_folder(db.session, folder, note="PKI de demostración (flask demo)")
        db.session.commit()
    except OficialiaError as e:
        _fail(e)
        return
    if count:
        click.echo(f"Almacén de confianza: {count} certificado(s) de la PKI de demostración.")


ocr_cli = AppGroup("ocr", help="Reconocimiento de texto (OCR) de los documentos.")


@ocr_cli.command("sweep")
def ocr_sweep_command() -> None:
    """Queue every document left pending without a live job; re-run dead ones."""
    from flask import current_app

    from .dispatch import get_dispatcher
    from .jobs import sweep

    report = sweep(db.session, get_dispatcher(), stale_seconds=int(current_app.config["OCR_STALE_SECONDS"]))
    click.echo(f"Documentos encolados: {report.queued}; reiniciados tras una interrupción: {report.restarted}.")


@ocr_cli.command("reprocess")
@click.argument("folio")
def ocr_reprocess_command(folio: str) -> None:
    """Run OCR again for every document of FOLIO."""
    from .dispatch import get_dispatcher
    from .jobs import request_ocr
    from .models import Filing

    filing = db.session.execute(db.select(Filing).where(Filing.folio == folio.strip().upper())).scalar_one_or_none()
    if filing is None:
        raise click.ClickException(f"No existe el folio {folio}.")
    count = request_ocr(db.session, get_dispatcher(), list(filing.documents))
    click.echo(f"{count} documento(s) de {filing.folio} en cola para OCR.")


deadlines_cli = AppGroup("deadlines", help="Plazos de respuesta: avisos y escalamientos.")
notifications_cli = AppGroup("notifications", help="Avisos por correo electrónico (bandeja de salida).")


@deadlines_cli.command("sweep")
def deadlines_sweep_command() -> None:
    """Warn assignees before their deadlines and escalate overdue filings (idempotent)."""
    from flask import current_app

    from workflows.deadlines import sweep_deadlines

    from .db import utcnow

    cfg = current_app.config
    report = sweep_deadlines(db.session, now=utcnow(), warning_days=int(cfg["DEADLINE_WARNING_DAYS"]),
                             tz=str(cfg["TIMEZONE"]), audit_department=str(cfg["AUDIT_DEPARTMENT"]))
    click.echo(f"Avisos de vencimiento: {report.warned}; escalamientos por plazo vencido: {report.escalated}; "
               f"correos generados: {report.notifications}.")


@notifications_cli.command("send")
@click.option("--limit", default=100, show_default=True, help="Cuántos avisos pendientes enviar como máximo.")
def notifications_send_command(limit: int) -> None:
    """Send the e-mails still pending now (SMTP, or the console without MAIL_SERVER)."""
    from flask import current_app

    from workflows.notifications import MailSettings, send_pending

    report = send_pending(db.session, settings=MailSettings.from_config(current_app.config), limit=limit)
    click.echo(f"Avisos enviados: {report.sent}; sin enviar (se reintentarán): {report.not_sent}.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Terminar cuando la cola quede vacía.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker for the OCR queue (needs OFICIALIA_REDIS_URL); it also sweeps periodically."""
    from .worker import run_worker

    run_worker(burst=burst)


def register_cli(app: Flask) -> None:
    for group in (users_cli, tokens_cli, departments_cli, logbook_cli, ocr_cli, deadlines_cli, notifications_cli,
                  webhooks_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    from .stats_cli import stats_cli
    app.cli.add_command(stats_cli)
    app.cli.add_command(worker_command)
