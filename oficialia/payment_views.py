"""Fees on the web, the gateway's notices and the command line: the printable payment order, the
admins' reconciliation and bank-file import, ``POST /api/v1/payments/gateway`` and
``flask --app app payments import FILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, abort, current_app, flash, jsonify, render_template, request
from flask.cli import AppGroup
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from . import access
from .db import db
from .errors import InvalidInput, NotFound, OficialiaError
from .extensions import limiter
from .forms import clean_text
from .models import Filing, Role, User
from .openapi import Output, endpoint
from .payments import (
    OrderStatus,
    Payment,
    PaymentMatch,
    PaymentOrder,
    import_bank_file,
    order_of,
    reconciliation,
    record_gateway_payment,
    signature_valid,
)
from .tracking import find_for_tracking

bp = Blueprint("payments", __name__)
api_bp = Blueprint("payments_api", __name__, url_prefix="/api/v1")

MAX_FILE_BYTES = 20 * 1024 * 1024


@bp.app_context_processor
def _payment_globals() -> dict[str, Any]:
    return {"payment_order": _order_for}


def _order_for(folio: str) -> PaymentOrder | None:
    filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    return order_of(db.session, filing) if filing is not None else None


@bp.get("/seguimiento/<folio>/orden-de-pago")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def order_public(folio: str) -> ResponseReturnValue:
    """The printable order, for whoever holds the folio and tracking code."""
    filing = find_for_tracking(db.session, folio, clean_text(request.args.get("code")))
    order = order_of(db.session, filing) if filing is not None else None
    if order is None:
        raise NotFound("No encontramos una orden de pago con ese folio y código de seguimiento.")
    return render_template("payments/order.html", order=order)


@bp.get("/expedientes/<folio>/orden-de-pago")
def order_staff(folio: str) -> ResponseReturnValue:
    """The printable order, for whoever may see the filing (the clerk at the window, the filer)."""
    if not current_user.is_authenticated:
        abort(401)
    filing = access.get_filing(db.session, current_user._get_current_object(), folio)
    order = order_of(db.session, filing)
    if order is None:
        raise NotFound("Este trámite no tiene orden de pago.")
    return render_template("payments/order.html", order=order)


def _reader() -> User:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in (Role.ADMIN, Role.AUDITOR):
        abort(403)
    user: User = current_user._get_current_object()
    return user


def _page(report: Any = None, status: int = 200) -> ResponseReturnValue:
    user = _reader()
    pending = db.session.execute(select(PaymentOrder).where(PaymentOrder.status == OrderStatus.PENDING)
                                 .order_by(PaymentOrder.id).limit(500)).scalars().all()
    paid = db.session.execute(select(PaymentOrder).where(PaymentOrder.status == OrderStatus.PAID)
                              .order_by(PaymentOrder.paid_at.desc()).limit(100)).scalars().all()
    unmatched = db.session.execute(select(Payment).where(Payment.match != PaymentMatch.MATCHED)
                                   .order_by(Payment.id.desc()).limit(500)).scalars().all()
    return render_template("payments/admin.html", summary=reconciliation(db.session), pending_orders=pending, paid=paid,
                           unmatched=unmatched, report=report, can_import=user.role is Role.ADMIN), status


@bp.get("/admin/pagos")
def admin() -> ResponseReturnValue:
    """Reconciliation: paid and pending orders, payments not credited."""
    return _page()


@bp.post("/admin/pagos/importar")
def import_file() -> ResponseReturnValue:
    """An admin imports the bank's payment file."""
    user = _reader()
    if user.role is not Role.ADMIN:
        abort(403)
    upload = request.files.get("file")
    data = upload.read(MAX_FILE_BYTES + 1) if upload else b""
    try:
        if not data:
            raise InvalidInput("Elija el archivo de pagos del banco (CSV).", field="file")
        if len(data) > MAX_FILE_BYTES:
            raise InvalidInput("El archivo de pagos excede 20 MB; divídalo.", field="file")
        report = import_bank_file(db.session, data, actor=user, tz=current_app.config["TIMEZONE"])
    except OficialiaError as e:
        flash(e.message, "danger")
        return _page(status=e.http_status)
    return _page(report)


# --- the gateway --------------------------------------------------------------------------------


class GatewayOut(Output):
    """Resultado del aviso de pago."""

    result: str
    folio: str | None = None


@api_bp.post("/payments/gateway")
@endpoint("Aviso de pago de la pasarela (firmado)", auth=False, responses={200: GatewayOut}, tags=("pagos",),
          headers={"X-Signature": "`sha256=` y el HMAC-SHA256 (hex) del cuerpo con el secreto compartido "
                                  "(`OFICIALIA_PAYMENT_WEBHOOK_SECRET`)."},
          description="Cuerpo JSON `{transaction_id, reference, amount, paid_at}` (importe como texto, fecha ISO "
                      "8601). La firma se comprueba antes de leerlo (401 si falta o no coincide). Un aviso repetido "
                      "responde `duplicate`; una referencia desconocida, un importe distinto o una orden ya pagada "
                      "se registran para la conciliación y no se aplican. Nunca se reciben datos de tarjeta.")
def gateway() -> ResponseReturnValue:
    secret = str(current_app.config.get("PAYMENT_WEBHOOK_SECRET") or "")
    if not secret:
        raise NotFound("No hay una pasarela de pagos configurada.")
    body = request.get_data(cache=False)
    if not signature_valid(secret, body, request.headers.get("X-Signature")):
        return jsonify({"error": {"code": "bad_signature",
                                  "message": "La firma del aviso de pago no es válida."}}), 401
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidInput("El aviso de pago no es JSON válido.") from None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str | int | float) and str(payload.get(k))
                                                for k in ("transaction_id", "reference", "amount", "paid_at")):
        raise InvalidInput("El aviso debe traer transaction_id, reference, amount y paid_at.")
    if len(str(payload["transaction_id"])) > 100:
        raise InvalidInput("transaction_id excede 100 caracteres.", field="transaction_id")
    payment, new = record_gateway_payment(
        db.session, transaction_id=str(payload["transaction_id"]), reference=str(payload["reference"]),
        amount=str(payload["amount"]), paid_at=str(payload["paid_at"]), body=body,
        tz=current_app.config["TIMEZONE"])
    if not new or payment is None:
        return jsonify({"result": "duplicate"})
    folio = payment.order.filing.folio if payment.order is not None else None
    return jsonify({"result": payment.match.value, "folio": folio})


# --- command line -------------------------------------------------------------------------------

payments_cli = AppGroup("payments", help="Pagos de derechos.")


@payments_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Import the bank's payment file (CSV); prints what was credited and what was not."""
    try:
        report = import_bank_file(db.session, file.read_bytes(), actor=None, tz=current_app.config["TIMEZONE"])
    except OficialiaError as e:
        raise click.ClickException(e.message) from e
    for line in report.lines():
        click.echo(line)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.cli.add_command(payments_cli)
