"""The responses part of the JSON API (``/api/v1``, blueprint "responses_api").

* ``POST /filings/<folio>/responses`` — multipart ``file`` (PDF) or ``text``, ``sense``, and
  optionally ``signers`` (e-mails, in signing order; repeated or comma-separated). Without
  ``signers``, the caller signs alone if they may sign, else the department's head. 201
  ``{"id", "status", ...}``.
* ``POST /responses/<id>/sign`` — multipart ``certificate`` + ``key`` + ``password`` (SAT
  e.firma) or ``pkcs12`` + ``password``; signs as the caller. 200 ``{"document_id", "sha256",
  "signer", "level", "status", "issued", "download_url"}``. ``document_id`` is the response's id:
  its PDF as it stands now (``sha256``: after this signature, or sealed once issued) downloads
  from ``GET /responses/<document_id>/pdf``.
* ``GET /responses/<id>`` — the response and its signatures; ``GET /responses/<id>/pdf``;
  ``GET /filings/<folio>/responses`` — every response of a filing the caller may see.
* ``GET /signatures/pending`` — the caller's signing queue.
* ``GET /track/<folio>/response?code=`` — the issued response, for whoever holds the tracking
  code (no token).

Errors are JSON ``{"error": {"code", "message"}}`` with Spanish messages, 4xx.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from . import access, responses, tracking
from .api import api_user, iso
from .api_schemas import ResponseDraftIn, ResponseEditIn, ResponseList, ResponseOut, SignedOut, SignIn, TrackQuery
from .db import db
from .errors import InvalidInput, NotFound
from .extensions import get_store, limiter
from .models import Department, Response, Role, User
from .openapi import endpoint
from .response_views import file_name, pdf_response, visible_response
from .tokens import Scope

bp = Blueprint("responses_api", __name__, url_prefix="/api/v1")



def response_json(response: Response, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": response.id, "status": response.status.value, "folio": response.filing.folio,
        "sense": response.sense.value, "department": response.department.code,
        "created_at": iso(response.created_at), "issued_at": iso(response.issued_at),
        "sha256": response.signed_sha256 or response.draft_sha256,
        "download_url": url_for("responses_api.pdf", response_id=response.id, _external=True),
    }
    if full:
        due = responses.next_signer(db.session, response)
        body["signers"] = [
            {"position": s.position, "email": s.user.email, "name": s.user.name, "signed_at": iso(s.signed_at),
             "level": s.level, "certificate": ({"serial": s.certificate_serial, "rfc": s.certificate_rfc,
                                                "subject": s.certificate_subject, "issuer": s.certificate_issuer}
                                               if s.signed_at else None),
             "due": due is not None and due.id == s.id}
            for s in responses.signers_of(db.session, response)]
    return body


def public_response_json(folio: str, code: str) -> dict[str, Any] | None:
    """The ``response`` of the public tracking view: the issued response, or ``None``."""
    filing = tracking.find_for_tracking(db.session, folio, code)
    response = responses.issued_response(db.session, filing) if filing is not None else None
    if response is None:
        return None
    return {"id": response.id, "sense": response.sense.value, "issued_at": iso(response.issued_at),
            "sha256": response.signed_sha256, "department": response.department.name,
            "url": url_for("responses_api.track_response", folio=response.filing.folio, code=code, _external=True)}


def _signer_ids(user: User, department_id: int, values: list[str]) -> list[int]:
    eligible = responses.eligible_signers(db.session, department_id)
    if not values:
        if any(u.id == user.id for u in eligible):
            return [user.id]
        department = db.session.get(Department, department_id)
        head = department.head if department is not None else None
        if head is not None and any(u.id == head.id for u in eligible):
            return [head.id]
        raise InvalidInput("Indique en «signers» el correo de quien firma la respuesta.", field="signers")
    by_email = {u.email: u.id for u in eligible}
    ids = []
    for email in values:
        user_id = by_email.get(email.strip().lower())
        if user_id is None:
            raise InvalidInput(f"«{email.strip()}» no es firmante activo del área con RFC registrado.",
                               field="signers")
        ids.append(user_id)
    return ids


@bp.post("/filings/<folio>/responses")
@endpoint("Redactar la respuesta a un escrito", scope=Scope.ACT, form=ResponseDraftIn, files=("file",),
          responses={201: ResponseOut,
                     409: "El escrito no admite respuesta en su estado actual o ya tiene una abierta."},
          tags=("respuestas",),
          description="Un PDF en `file` o el texto en `text` (se redacta como oficio con membrete).")
def create(folio: str) -> ResponseReturnValue:
    """Draft the response to a filing."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    upload = request.files.get("file")
    pdf = upload.read() if upload is not None else None
    text = request.form.get("text")
    if pdf is not None and text:
        raise InvalidInput("Envíe «file» (PDF) o «text», no ambos.", field="text")
    values = [v for raw in request.form.getlist("signers") for v in raw.split(",") if v.strip()]
    department = responses.answering_department(db.session, filing, user)
    response = responses.create_draft(
        db.session, get_store(), filing, user, sense=responses.parse_sense(request.form.get("sense")),
        signer_ids=_signer_ids(user, department.id, values),
        settings=responses.ResponseSettings.from_config(current_app.config), pdf=pdf or None, text=text,
        filename=(upload.filename or "respuesta.pdf") if upload is not None else "respuesta.pdf")
    return (jsonify(response_json(response)), 201,
            {"Location": url_for("responses_api.get", response_id=response.id, _external=True)})


@bp.put("/responses/<int:response_id>/draft")
@endpoint("Editar un borrador de respuesta", scope=Scope.ACT, form=ResponseEditIn, files=("file",),
          responses={200: ResponseOut, 409: "La respuesta ya no es un borrador: alguien la firmó, se emitió o se "
                                            "canceló."},
          tags=("respuestas",),
          description="Solo mientras nadie la ha firmado, y solo el área que la redactó. Lo que no se envía se "
                      "conserva; el documento anterior queda en la bitácora y quien firma primero recibe el aviso "
                      "de nuevo.")
def edit(response_id: int) -> ResponseReturnValue:
    """Change a draft nobody has signed: sense, document, signers."""
    user = api_user()
    response = visible_response(user, response_id)
    responses.require_draft_owner(response, user, "editar")
    upload = request.files.get("file")
    pdf = upload.read() if upload is not None else None
    text = request.form.get("text")
    if pdf and text:
        raise InvalidInput("Envíe «file» (PDF) o «text», no ambos.", field="text")
    values = [v for raw in request.form.getlist("signers") for v in raw.split(",") if v.strip()]
    sense = request.form.get("sense")
    responses.edit_draft(
        db.session, get_store(), response, user, sense=responses.parse_sense(sense) if sense else None,
        signer_ids=_signer_ids(user, response.department_id, values) if values else None,
        settings=responses.ResponseSettings.from_config(current_app.config), pdf=pdf or None, text=text,
        filename=(upload.filename or "respuesta.pdf") if upload is not None else "respuesta.pdf")
    return jsonify(response_json(response))


@bp.get("/filings/<folio>/responses")
@endpoint("Respuestas de un escrito", scope=Scope.TRACK, responses={200: ResponseList}, tags=("respuestas",))
def list_for_filing(folio: str) -> ResponseReturnValue:
    """The responses of a filing the caller may see (the filer: only issued ones)."""
    user = api_user()
    filing = access.get_filing(db.session, user, folio)
    rows = [r for r in responses.responses_of(db.session, filing)
            if user.role is not Role.CITIZEN or r.status.value == "issued"]
    return jsonify({"responses": [response_json(r) for r in rows]})


@bp.post("/responses/<int:response_id>/sign")
@endpoint("Firmar una respuesta", scope=Scope.SIGN, form=SignIn, files=("certificate", "key", "pkcs12"),
          responses={200: SignedOut, 409: "No es el turno de quien llama o la respuesta ya no admite firmas."},
          tags=("respuestas",), description="e.firma del SAT (`certificate` .cer + `key` .key + `password`) o "
          "PKCS#12 (`pkcs12` + `password`). La llave y la contraseña se usan solo para esta firma.")
def sign(response_id: int) -> ResponseReturnValue:
    """Sign a response as the caller (SAT pair or PKCS#12)."""
    user = api_user()
    response = visible_response(user, response_id)

    def read(name: str) -> bytes | None:
        f = request.files.get(name)
        return (f.read(responses.MAX_CREDENTIAL_BYTES + 1) or None) if f is not None else None

    credentials = responses.Credentials.parse(password=request.form.get("password"), pkcs12=read("pkcs12"),
                                              certificate=read("certificate"), key=read("key"))
    from .signing import signing_settings, trust_settings

    result = responses.sign_response(
        db.session, get_store(), response, user, credentials, signing=signing_settings(), trust=trust_settings(),
        settings=responses.ResponseSettings.from_config(current_app.config))
    return jsonify({
        "document_id": response.id, "sha256": result.sha256, "signer": result.signer.certificate_subject
        or user.name, "level": result.level, "status": response.status.value, "issued": result.issued,
        "download_url": url_for("responses_api.pdf", response_id=response.id, _external=True)})


@bp.get("/responses/<int:response_id>")
@endpoint("Consultar una respuesta", scope=Scope.TRACK, responses={200: ResponseOut}, tags=("respuestas",))
def get(response_id: int) -> ResponseReturnValue:
    """A response and its signatures."""
    return jsonify(response_json(visible_response(api_user(), response_id)))


@bp.get("/responses/<int:response_id>/pdf")
@endpoint("Descargar el PDF de una respuesta", scope=Scope.TRACK, responses={200: "binary"}, tags=("respuestas",))
def pdf(response_id: int) -> ResponseReturnValue:
    """The response's PDF as it stands (the filer: only once issued)."""
    response = visible_response(api_user(), response_id)
    return pdf_response(response, name=file_name(response))


@bp.get("/signatures/pending")
@endpoint("Firmas pendientes de quien llama", scope=Scope.SIGN, responses={200: ResponseList}, tags=("respuestas",))
def pending() -> ResponseReturnValue:
    """The caller's signing queue."""
    user = api_user()
    if user.role not in (Role.SIGNER, Role.ADMIN):
        return jsonify({"responses": []})
    return jsonify({"responses": [response_json(r, full=False) | {"position": mine.position}
                                  for r, mine in responses.pending_for(db.session, user)]})


@bp.get("/track/<folio>/response")
@endpoint("Respuesta emitida (sin token)", auth=False, query=TrackQuery, responses={200: "binary"},
          tags=("seguimiento",), rate_limit=False)
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def track_response(folio: str) -> ResponseReturnValue:
    """The issued response of a filing, with its tracking code; no token."""
    filing = tracking.find_for_tracking(db.session, folio, request.args.get("code", ""))
    response = responses.issued_response(db.session, filing) if filing is not None else None
    if response is None:
        raise NotFound("No se encontró una respuesta emitida para ese folio y código de seguimiento.")
    return pdf_response(response, name=file_name(response))

