"""Application factory of the Oficialía de Partes Electrónica: ``flask --app app run``."""

from __future__ import annotations

import logging
import select
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import storage
from firma import FirmaError
from oficialia import config as config_module
from oficialia.db import db
from oficialia.errors import OficialiaError
from oficialia.extensions import csrf, limiter, login_manager, migrate
from oficialia.requests import UploadRequest
from workflows.errors import WorkflowError

ROOT = Path(__file__).resolve().parent

HTTP_MESSAGES = {
    400: "La solicitud no es válida.",
    401: "Debe iniciar sesión.",
    403: "No tiene permiso para realizar esta acción.",
    404: "No se encontró la página solicitada.",
    405: "Método no permitido.",
    413: "El envío excede el tamaño máximo permitido.",
    415: "Tipo de contenido no admitido.",
    429: "Demasiadas solicitudes. Espere un momento e intente de nuevo.",
    500: "Ocurrió un error interno. No se perdió nada de lo ya registrado; intente de nuevo.",
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, error handlers, CLI."""
    test_config = dict(test_config or {})
    instance_path = test_config.pop("INSTANCE_PATH", None)
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True,
                template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.request_class = UploadRequest  # closes what an upload spooled, even if parsing stopped half-way
    app.config.from_object(config_module.Defaults)
    app.config.from_prefixed_env("OFICIALIA")
    app.config.update(test_config)
    config_module.finalize(app.config, app.instance_path)
    if int(app.config["PROXY_COUNT"]) > 0:
        hops = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "oficialia.login"
    login_manager.login_message = "Inicie sesión para continuar."
    login_manager.login_message_category = "info"
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_locking(db.engine)
        elif db.engine.dialect.name == "postgresql":
            _postgres_liveness(db.engine)

    from oficialia import (
        admin_api_views,
        api,
        catalogue_views,
        openapi,
        response_views,
        responses_api,
        stats_api,
        stats_views,
        views,
    )
    from oficialia.cli import register_cli
    from oficialia.dispatch import init_dispatcher
    from workflows import api as workflows_api
    from workflows import views as workflow_views

    init_dispatcher(app)
    _preload(app)
    openapi.bound_int_ids(app)  # before any route: ids beyond the database's range are 404
    app.register_blueprint(views.bp)
    app.register_blueprint(views.vendor_bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(workflow_views.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens only, never cookies
    app.register_blueprint(workflows_api.bp)
    app.register_blueprint(stats_views.bp)
    app.register_blueprint(stats_api.bp)
    csrf.exempt(stats_api.bp)  # bearer tokens only
    csrf.exempt(workflows_api.bp)  # bearer tokens or tracking codes, never cookies
    app.register_blueprint(response_views.bp)
    app.register_blueprint(responses_api.bp)
    csrf.exempt(responses_api.bp)  # bearer tokens or tracking codes, never cookies
    openapi.init_app(app)  # /api/v1/openapi.json and /api/v1/docs
    app.register_blueprint(catalogue_views.bp)
    app.register_blueprint(admin_api_views.bp)
    register_cli(app)
    from oficialia import verification_views
    from oficialia.verification_cli import register_verification_cli

    app.register_blueprint(verification_views.bp)
    app.register_blueprint(verification_views.api_bp)
    csrf.exempt(verification_views.api_bp)  # public and rate-limited; no cookies involved
    register_verification_cli(app)
    from oficialia import protest_views

    app.register_blueprint(protest_views.bp)
    app.register_blueprint(protest_views.api_bp)
    csrf.exempt(protest_views.api_bp)  # tracking codes and bearer tokens, never cookies
    from oficialia import payment_views

    payment_views.register(app)
    csrf.exempt(payment_views.api_bp)  # signed by the gateway, never cookies
    from oficialia import turn_views

    turn_views.register(app)
    csrf.exempt(turn_views.api_bp)  # public JSON, no cookies involved
    _register_error_handlers(app)
    _security_headers(app)
    return app


def _preload(app: Flask) -> None:
    """Import now what the first filing would otherwise import, in every server worker: the
    storage backend and, with a job queue, the job functions it names."""
    storage.load_backend(str(app.config["STORAGE_URL"]))
    if app.config.get("REDIS_URL"):
        import oficialia.jobs  # noqa: F401


def _postgres_liveness(engine: Any) -> None:
    """Check a pooled connection as it is taken, without a round trip: a server that restarted
    or ended the session has closed its socket, which then polls readable. Only then is it
    pinged (``SELECT 1``), and if that fails the pool replaces it, so no request fails on it.
    (SQLAlchemy's ``pool_pre_ping`` would send that ping before every request.)"""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.closed:
            raise DisconnectionError("connection closed")
        poller = select.poll()
        poller.register(dbapi_conn.pgconn.socket, select.POLLIN | select.POLLPRI)
        if not poller.poll(0):
            return  # nothing arrived while it sat in the pool: the session is alive
        try:  # a notice, or the server's goodbye
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as e:  # noqa: BLE001 - whatever the driver raises, the connection is gone
            raise DisconnectionError("the server closed the connection") from e


def _sqlite_locking(engine: Any) -> None:
    """WAL, and BEGIN IMMEDIATE so a transaction takes the write lock up front and waits for it
    (busy timeout) instead of failing when it later needs to write."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _error_response(status: int, code: str, message: str, **extra: Any) -> ResponseReturnValue:
    if _wants_json():
        return jsonify({"error": {"code": code, "message": message, **extra}}), status
    return render_template("error.html", status=status, message=message), status


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OficialiaError)
    def _domain_error(e: OficialiaError) -> ResponseReturnValue:
        field = getattr(e, "field", None)
        extra = {"field": field} if field else {}
        extra |= getattr(e, "details", None) or {}  # e.g. every wrong field of a schema check
        return _error_response(e.http_status, e.code, e.message, **extra)

    @app.errorhandler(WorkflowError)
    def _workflow_error(e: WorkflowError) -> ResponseReturnValue:
        return _error_response(e.http_status, e.code, e.message)

    @app.errorhandler(FirmaError)
    def _firma_error(e: FirmaError) -> ResponseReturnValue:
        db.session.rollback()
        return _error_response(e.http_status, e.code, e.message)

    @app.errorhandler(CSRFError)
    def _csrf_error(e: CSRFError) -> ResponseReturnValue:
        return _error_response(400, "csrf", "La sesión del formulario expiró. Recargue la página e intente de nuevo.")

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> ResponseReturnValue:
        status = e.code or 500
        message = HTTP_MESSAGES.get(status, e.description or "")
        response = make_response(_error_response(status, f"http_{status}", message))
        if e.response is not None and "Retry-After" in e.response.headers:  # Flask-Limiter's 429
            response.headers["Retry-After"] = e.response.headers["Retry-After"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> ResponseReturnValue:
        logging.getLogger("oficialia").exception("unhandled error")
        db.session.rollback()
        return _error_response(500, "internal", HTTP_MESSAGES[500])


def _security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
            "base-uri 'self'; form-action 'self'")
        return response
