"""Blueprint "verification": the public verifier page (``/verificar``, also opened from the QR of a
signed document as ``/verificar?folio=…``), its JSON door ``POST /api/v1/verify``, and the admins'
trust store page (``/admin/confianza``). Views parse input, call one service, render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from firma.report import CHANGE_LABELS, ChangeKind, Verdict

from . import trust
from .api_schemas import VerifyOut, VerifyQuery
from .db import db, utcnow
from .errors import InvalidInput, OficialiaError
from .extensions import limiter
from .models import Role, TrustAnchorKind
from .openapi import endpoint
from .verification import (
    VerificationResult,
    get_verifier,
    issued_documents,
    normalise_folio,
    report_json,
    verify_issued_response,
    verify_upload,
)
from .verification_report import build_report_pdf

bp = Blueprint("verification", __name__)
api_bp = Blueprint("verification_api", __name__, url_prefix="/api/v1")


def _rate() -> str:
    return str(current_app.config["RATELIMIT_VERIFY"])


def _upload() -> bytes:
    file = request.files.get("file")
    if file is None or not file.filename:
        raise InvalidInput("Adjunte el archivo PDF firmado que desea verificar.", field="file")
    try:
        data: bytes = file.read()
    finally:
        file.close()  # a large upload is spooled to a temporary file
    return data


def _run(data: bytes, folio: str | None) -> VerificationResult:
    return verify_upload(db.session, data, verifier=get_verifier(), config=current_app.config, folio=folio)


def _pdf_response(result: VerificationResult) -> ResponseReturnValue:
    pdf, _sealed = build_report_pdf(result, institution=str(current_app.config["INSTITUTION"]), generated_at=utcnow())
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="verificacion-{result.report.sha256[:12]}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


_TEMPLATE_GLOBALS: dict[str, Any] = {"CHANGE_LABELS": CHANGE_LABELS, "ChangeKind": ChangeKind, "Verdict": Verdict}


@bp.route("/verificar", methods=["GET", "POST"])
@limiter.limit(_rate, methods=["POST"])
def verify_page() -> ResponseReturnValue:
    """Upload a signed PDF and read the report (HTML, or the PDF report)."""
    folio = normalise_folio(request.values.get("folio"))
    documents = issued_documents(db.session, folio) if folio else []
    if request.method == "GET":
        return render_template("verification/verify.html", folio=folio, documents=documents, result=None,
                               **_TEMPLATE_GLOBALS)
    try:
        result = _run(_upload(), folio)
    except OficialiaError as e:
        flash(e.message, "danger")
        return render_template("verification/verify.html", folio=folio, documents=documents, result=None,
                               **_TEMPLATE_GLOBALS), e.http_status
    if request.form.get("format") == "pdf":
        return _pdf_response(result)
    return render_template("verification/verify.html", folio=folio, documents=documents, result=result,
                           **_TEMPLATE_GLOBALS)


@bp.post("/verificar/emitido/<int:response_id>")
@limiter.limit(_rate)
def verify_issued(response_id: int) -> ResponseReturnValue:
    """Verify the stored copy of a document issued for a folio (for a reader with a printout)."""
    from .extensions import get_store

    result = verify_issued_response(db.session, response_id, store=get_store(), verifier=get_verifier(),
                                    config=current_app.config)
    if request.form.get("format") == "pdf":
        return _pdf_response(result)
    return render_template("verification/verify.html", folio=result.folio,
                           documents=issued_documents(db.session, result.folio) if result.folio else [],
                           result=result, stored_copy=True, **_TEMPLATE_GLOBALS)


@api_bp.post("/verify")
@endpoint("Verificar un PDF firmado", auth=False, query=VerifyQuery, files=("file",), rate_limit=False,
          responses={200: VerifyOut}, tags=("verificación",),
          description="Informe de validación (ETSI EN 319 102-1) de cada firma; `?format=pdf` da el informe en PDF "
                      "sellado. Público; si envía un token, debe ser válido.")
@limiter.limit(_rate)
def verify_api() -> ResponseReturnValue:
    """Validation report as JSON (``?format=pdf`` for the PDF report); public, rate-limited.

    A caller that sends a token must send a valid one (401 otherwise), as everywhere in the API.
    """
    if request.headers.get("Authorization"):
        from .api import api_user

        api_user()
    result = _run(_upload(), request.values.get("folio"))
    if request.args.get("format") == "pdf":
        return _pdf_response(result)
    return jsonify(report_json(result))


# --- the trust store (admins) --------------------------------------------------------------------

def _admin() -> Any:
    from flask import abort

    if not current_user.is_authenticated:
        abort(401)
    if current_user.role is not Role.ADMIN:
        abort(403)
    return current_user._get_current_object()


@bp.route("/admin/confianza", methods=["GET", "POST"])
def trust_store() -> ResponseReturnValue:
    """What the verifier trusts and why; import a root or issuing CA."""
    actor = _admin()
    status = 200
    if request.method == "POST":
        file = request.files.get("certificate")
        try:
            data = b""
            if file:
                try:
                    data = file.read()
                finally:
                    file.close()
            added = trust.add_trust_anchor(db.session, data, actor=actor,
                                           note=request.form.get("note", ""))
            db.session.commit()
        except OficialiaError as e:
            db.session.rollback()
            flash(e.message, "danger")
            status = e.http_status
        else:
            flash(f"Certificados de confianza añadidos: {', '.join(a.subject for a in added)}.", "success")
            return redirect(url_for("verification.trust_store"))
    return render_template("verification/trust.html", anchors=trust.list_trust_anchors(db.session),
                           TrustAnchorKind=TrustAnchorKind), status


@bp.post("/admin/confianza/<int:anchor_id>/desactivar")
def deactivate_anchor(anchor_id: int) -> ResponseReturnValue:
    """Stop trusting a certificate (it stays listed, inactive)."""
    actor = _admin()
    try:
        anchor = trust.deactivate_trust_anchor(db.session, anchor_id, actor=actor)
        db.session.commit()
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
    else:
        flash(f"Ya no se confía en «{anchor.subject}».", "success")
    return redirect(url_for("verification.trust_store"))
