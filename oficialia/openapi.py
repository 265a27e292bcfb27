"""The API's contract, written once: each view declares its inputs, outputs and scope with
:func:`endpoint`, which both **validates** the request (before the view runs) and **describes**
the operation in the OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Inputs and outputs are pydantic v2 models; their JSON Schema (draft 2020-12, the dialect of
OpenAPI 3.1) goes into ``components/schemas``. Paths come from Flask's URL map, so a route and its
documentation cannot drift apart. The page ``/api/v1/docs`` renders the document with Swagger UI
(``swagger-ui-dist`` from npm, served under ``/vendor``).

Bringing a plain Flask view under the mechanism::

    @bp.post("/things/<int:thing_id>")
    @endpoint("Hace algo", scope=Scope.ACT, form=ThingForm, files=("file",), responses={201: ThingOut})
    def do_thing(thing_id: int) -> ResponseReturnValue:
        user, data = api_user(), validated()   # data: a ThingForm instance

Errors are always JSON ``{"error": {"code", "message", "field"?, "fields"?}}`` with a Spanish
message (see ``app.py``); a request that breaks the schema gets 422 ``invalid_input`` with one
entry per wrong field in ``fields``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import wraps
from typing import Annotated, Any, ClassVar, TypeVar

from flask import Blueprint, Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter

from .errors import Forbidden, InvalidInput
from .extensions import limiter
from .tokens import SCOPE_LABELS, Scope

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

REF_TEMPLATE = "#/components/schemas/{model}"
API_PREFIX = "/api/v1"


# --- input helpers ------------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value.lower() if value else None
    return value


def choice(enum: type[StrEnum]) -> Any:
    """An optional enum field of a form or query: case-insensitive, empty means absent."""
    return Annotated[enum | None, BeforeValidator(_blank_to_none)]


class Input(BaseModel):
    """Base of request models: unknown fields are ignored, strings are trimmed."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    #: per-field Spanish messages that replace the generic ones
    field_messages: ClassVar[dict[str, str]] = {}


class Output(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(Output):
    field: str
    message: str


class ErrorDetail(Output):
    code: str
    message: str
    field: str | None = None
    fields: list[FieldError] | None = None


class ErrorBody(Output):
    """Every error of the API."""

    error: ErrorDetail


# --- validation ---------------------------------------------------------------------------------


class SchemaInvalid(InvalidInput):
    """A request that does not match the operation's schema."""

    code = "invalid_input"

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        field_name, message = errors[0]
        super().__init__(message, field=field_name)
        self.details = {"fields": [{"field": f, "message": m} for f, m in errors]}


def _spanish(error: Mapping[str, Any], name: str) -> str:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"Falta el campo «{name}»."
    if kind == "enum":
        return f"«{name}» debe ser uno de: {ctx.get('expected', '')}."
    if kind in ("string_too_long", "too_long"):
        return f"«{name}» no puede exceder {ctx.get('max_length', '')} caracteres."
    if kind in ("string_too_short", "too_short"):
        return f"Escriba «{name}»."
    if kind.startswith("int_") or kind == "int_type":
        return f"«{name}» debe ser un número entero."
    if kind in ("greater_than_equal", "greater_than"):
        return f"«{name}» debe ser al menos {ctx.get('ge', ctx.get('gt', ''))}."
    if kind in ("less_than_equal", "less_than"):
        return f"«{name}» no puede ser mayor que {ctx.get('le', ctx.get('lt', ''))}."
    if kind.startswith("bool"):
        return f"«{name}» debe ser verdadero o falso."
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "Envíe un objeto JSON."
    if kind.startswith("list"):
        return f"«{name}» debe ser una lista."
    if kind.startswith("string"):
        return f"«{name}» debe ser texto."
    return f"El valor de «{name}» no es válido."


def validate(model: type[Input], data: Any) -> Input:
    """Validate ``data`` with ``model``.

    :raises SchemaInvalid: (422) listing every wrong field, with the model's own Spanish
        message for a field when it declares one in ``field_messages``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        own: Mapping[str, str] = getattr(model, "field_messages", {}) or {}
        errors = []
        for err in e.errors(include_url=False):
            name = ".".join(str(p) for p in err.get("loc", ())) or "body"
            top = str(err["loc"][0]) if err.get("loc") else "body"
            errors.append((top, own.get(top) or _spanish(err, name)))
        raise SchemaInvalid(errors) from None


def validated() -> Any:
    """The validated input of the current request (form, JSON body or, failing those, query)."""
    return g.get("api_input")


def validated_query() -> Any:
    return g.get("api_query")


# --- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str
    scopes: tuple[Scope, ...]
    auth: bool
    query: type[Input] | None
    form: type[Input] | None
    files: tuple[str, ...]
    json: type[Input] | None
    responses: dict[int, Any]
    tags: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)


#: common error answers of every operation (plus those the operation declares)
COMMON_ERRORS = {400: "Solicitud mal formada.", 404: "No existe o no es visible para quien llama.",
                 422: "Algún dato no es válido (`fields` detalla cada uno).", 429: "Demasiadas solicitudes; "
                 "vea `Retry-After`."}
ERROR_TEXT = {401: "Falta el token o no es válido.", 403: "El token no tiene el alcance o el rol no lo permite.",
              409: "El estado actual no lo permite.", 413: "El envío excede el tamaño permitido.",
              415: "Tipo de archivo no admitido.", 503: "Servicio no disponible; no se registró nada."}


def _token_key() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return "addr:" + (get_remote_address() or "")


def _token_limit() -> str:
    return str(current_app.config["RATELIMIT_API_TOKEN"])


def _address_limit() -> str:
    return str(current_app.config["RATELIMIT_API_ADDRESS"])


def endpoint(summary: str, *, description: str = "", scope: Scope | Sequence[Scope] | None = None,
             auth: bool = True, query: type[Input] | None = None, form: type[Input] | None = None,
             files: Sequence[str] = (), json: type[Input] | None = None,
             responses: Mapping[int, Any] | None = None, tags: Sequence[str] = (),
             headers: Mapping[str, str] | None = None, rate_limit: bool = True) -> Callable[[F], F]:
    """Declare (and enforce) an API operation; put it right under ``@bp.get/post``.

    :param scope: the scope (or any of several) the caller's token needs; 403 without it.
    :param auth: whether a bearer token is required (401 without one).
    :param query, form, json: pydantic models the query string, the multipart/urlencoded form or
        the JSON body must satisfy; the instance is available through :func:`validated`.
    :param files: names of multipart file fields (each may repeat).
    :param responses: status → output model, ``"binary"`` for a download, or ``None``.
    :param headers: request headers the operation reads, name → description.
    :param rate_limit: apply the per-token and per-address limits.
    """
    scopes = (scope,) if isinstance(scope, Scope) else tuple(scope or ())
    op = Operation(summary=summary, description=description, scopes=scopes, auth=auth or bool(scopes),
                   query=query, form=form, files=tuple(files), json=json, responses=dict(responses or {}),
                   tags=tuple(tags), headers=dict(headers or {}))

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if op.auth:
                require_scope(*op.scopes)
            if op.query is not None:
                g.api_query = validate(op.query, request.args.to_dict())
                g.api_input = g.api_query
            if op.form is not None:
                g.api_input = validate(op.form, request.form.to_dict())
            if op.json is not None:
                g.api_input = validate(op.json, request.get_json(silent=True))
            return view(*args, **kwargs)

        wrapper.__openapi__ = op  # type: ignore[attr-defined]
        limited: Any = wrapper
        if rate_limit:
            limited = limiter.limit(_token_limit, key_func=_token_key)(limited)
            limited = limiter.limit(_address_limit)(limited)
            limited.__openapi__ = op
        return limited  # type: ignore[no-any-return]

    return decorator


def require_scope(*scopes: Scope) -> None:
    """The caller's token (401 without one) must hold one of ``scopes`` (403 otherwise)."""
    from .api import api_token  # the API's token lookup; imported late to avoid a cycle

    token = api_token()
    if scopes and not any(s.value in token.scope_list for s in scopes):
        names = " o ".join(f"«{s.value}» ({SCOPE_LABELS[s].lower()})" for s in scopes)
        raise Forbidden(f"Este token no tiene el alcance {names}. Pida a la administración un token con ese "
                        "alcance.")


# --- the document -------------------------------------------------------------------------------


#: the largest id a route accepts: ids are 32-bit integers in the database
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` bounded to the database's integer range: a larger id is a 404, not a 500."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def bound_int_ids(app: Flask) -> None:
    """Make ``<int:…>`` in every route bounded; call before registering blueprints."""
    app.url_map.converters["int"] = IdConverter


def _path_and_params(rule: Any) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for name, conv in rule._converters.items():  # werkzeug's parsed converters of the rule
        schema: dict[str, Any] = ({"type": "integer", "minimum": 0, "maximum": conv.max or MAX_ID}
                                  if isinstance(conv, IntegerConverter)
                                  else {"type": "string", "minLength": 1, "pattern": "^[^/]+$"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), params


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route declared with :func:`endpoint`."""
    found: list[tuple[str, str, Operation, Any]] = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op = getattr(view, "__openapi__", None)
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method.lower(), op, rule))

    models: list[tuple[type[BaseModel], Any]] = [(ErrorBody, "serialization")]
    for _e, _m, op, _r in found:
        for model in (op.query, op.form, op.json):
            if model is not None:
                models.append((model, "validation"))
        for out in op.responses.values():
            if isinstance(out, type) and issubclass(out, BaseModel):
                models.append((out, "serialization"))
    keys, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(keys[(model, mode)])  # type: ignore[index]

    def inline(model: type[BaseModel]) -> dict[str, Any]:
        name = ref(model, "validation")["$ref"].rsplit("/", 1)[1]
        return dict(schemas[name])

    paths: dict[str, Any] = {}
    for endpoint_name, method, op, rule in sorted(found, key=lambda f: (f[3].rule, f[1])):
        path, params = _path_and_params(rule)
        if op.query is not None:
            q = inline(op.query)
            required = set(q.get("required", []))
            for name, prop in q.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required,
                               "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
                               **({"description": prop["description"]} if "description" in prop else {})})
        for name, text in op.headers.items():
            params.append({"name": name, "in": "header", "required": False, "description": text,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 200,
                                      "pattern": "^[!-~]+$"}})
        operation: dict[str, Any] = {
            "operationId": endpoint_name.replace(".", "_"), "summary": op.summary,
            "tags": list(op.tags) or [rule.rule.split("/")[3] if rule.rule.count("/") > 2 else "api"],
        }
        if op.description:
            operation["description"] = op.description
        if params:
            operation["parameters"] = params
        if op.form is not None or op.files:
            body_schema: dict[str, Any] = inline(op.form) if op.form is not None else {"type": "object",
                                                                                         "properties": {}}
            body_schema = {k: v for k, v in body_schema.items() if k != "title"}
            body_schema.setdefault("properties", {})
            body_schema["properties"] = dict(body_schema["properties"])
            for name in op.files:
                body_schema["properties"][name] = {"type": "array",
                                                   "items": {"type": "string", "contentMediaType":
                                                             "application/octet-stream"}}
            operation["requestBody"] = {"required": True, "content": {
                "multipart/form-data": {"schema": body_schema}}}
        elif op.json is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref(op.json, "validation")}}}
        responses: dict[str, Any] = {}
        for status, out in sorted(op.responses.items()):
            if status >= 400 and not (isinstance(out, type) and issubclass(out, BaseModel)):
                continue
            if out == "binary":
                responses[str(status)] = {"description": "El archivo.", "content": {
                    "*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}
            elif isinstance(out, type) and issubclass(out, BaseModel):
                responses[str(status)] = {"description": (out.__doc__ or "Correcto.").strip().splitlines()[0],
                                          "content": {"application/json": {"schema": ref(out, "serialization")}}}
            else:
                responses[str(status)] = {"description": str(out or "Correcto."), "content": {
                    "application/json": {"schema": {"type": "object"}}}}
        errors = dict(COMMON_ERRORS)
        if op.auth:
            errors[401] = ERROR_TEXT[401]
            errors[403] = ERROR_TEXT[403]
        if method in ("post", "put", "patch", "delete"):
            errors[409] = ERROR_TEXT[409]
        if op.files:
            errors.update({413: ERROR_TEXT[413], 415: ERROR_TEXT[415], 503: ERROR_TEXT[503]})
        for status, text in op.responses.items():
            if status >= 400 and not (isinstance(text, type) and issubclass(text, BaseModel)):
                errors[status] = text if isinstance(text, str) else ERROR_TEXT.get(status, "Error.")
        for status, text in sorted(errors.items()):
            if str(status) in responses:
                continue
            responses[str(status)] = {"description": text, "content": {
                "application/json": {"schema": ref(ErrorBody, "serialization")}}}
            if status == 429:
                responses[str(status)]["headers"] = {"Retry-After": {
                    "description": "Segundos a esperar.", "schema": {"type": "string"}}}
        operation["responses"] = responses
        if op.auth:
            operation["security"] = [{"bearer": []}]
            if op.scopes:
                operation["x-scopes"] = [s.value for s in op.scopes]
                operation["description"] = (operation.get("description", "") + "\n\nAlcance requerido: "
                                            + " o ".join(f"`{s.value}`" for s in op.scopes)).strip()
        paths.setdefault(path, {})[method] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"API de la {app.config['OFFICE_NAME']} electrónica",
            "version": "1.0.0",
            "description": (
                "API de la Oficialía de Partes Electrónica de " + str(app.config["INSTITUTION"]) + ". "
                "Autenticación: `Authorization: Bearer <token>` (tokens emitidos por la administración). "
                "Alcances de un token: " + "; ".join(f"`{s.value}`: {SCOPE_LABELS[s]}" for s in Scope) + ". "
                "Errores: siempre JSON `{\"error\": {\"code\", \"message\"}}` con mensaje en español. "
                "Límites de uso por token y por dirección: al excederlos, 429 con `Retry-After`. "
                "`POST /filings` admite `Idempotency-Key`: un reintento con la misma clave devuelve el "
                "primer resultado, nunca un segundo folio."),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Token de la API (op_…)."}},
        },
    }


docs_bp = Blueprint("apidocs", __name__, url_prefix=API_PREFIX)


@docs_bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of the whole API."""
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build_document(current_app)
    return jsonify(document)


@docs_bp.get("/docs")
def docs() -> ResponseReturnValue:
    """The browsable documentation (Swagger UI)."""
    return render_template("apidocs/docs.html")  # the app's CSP as is: the renderer needs no exception


def init_app(app: Flask) -> None:
    app.register_blueprint(docs_bp)
