"""Request and response models of the JSON API (pydantic v2).

Request models validate what comes in before a view runs (see :func:`oficialia.openapi.endpoint`);
response models describe what goes out. Both feed ``/api/v1/openapi.json``. Domain rules with
their own Spanish messages (the folio's existence, who may act, file contents…) stay in the
services; these models hold types, enums and lengths.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, SecretStr

from workflows.models import NotificationStatus
from workflows.states import Action, FilingState

from .forms import BODY_MAX, NAME_MAX, SUBJECT_MAX
from .models import Channel, FilerKind, Gender
from .openapi import Input, Output, choice


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# --- requests -----------------------------------------------------------------------------------


class FilingIn(Input):
    """Un escrito (multipart); sus archivos van en `files`."""

    field_messages: ClassVar[dict[str, str]] = {
        "subject": "Escriba el asunto de su escrito.",
        "subject:string_too_long": f"El asunto no puede exceder {SUBJECT_MAX} caracteres.",
        "filer_kind": "El tipo de persona debe ser «fisica» o «moral».",
        "filer_gender": "El género debe ser «mujer», «hombre», «otro» o «no_indica».",
        "channel": "Canal desconocido. Valores admitidos: " + ", ".join(c.value for c in Channel) + ".",
    }

    subject: str = Field(min_length=1, max_length=SUBJECT_MAX, description="Asunto.")
    body: str = Field("", max_length=BODY_MAX, description="Texto de la petición.")
    procedure: str | None = Field(None, max_length=30, description="Clave del trámite del catálogo.")
    department: str | None = Field(None, max_length=20, description="Clave del área a la que se dirige.")
    filer_name: str | None = Field(None, max_length=NAME_MAX)
    filer_email: str | None = Field(None, max_length=254)
    filer_phone: str | None = Field(None, max_length=40)
    filer_kind: choice(FilerKind) = None  # type: ignore[valid-type]
    filer_gender: choice(Gender) = None  # type: ignore[valid-type]
    channel: choice(Channel) = Field(None, description="Canal; un token con canal lo fija.")  # type: ignore[valid-type]
    physical_annexes: str | None = Field(None, max_length=2000, description="Anexos entregados en papel.")


class FilingQuery(Input):
    status: choice(FilingState) = None  # type: ignore[valid-type]
    department: str | None = Field(None, max_length=20)
    q: str | None = Field(None, max_length=200, description="Búsqueda de texto completo (asunto, texto, OCR).")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class ProcedureQuery(Input):
    q: str | None = Field(None, max_length=200, description="Búsqueda (sin distinguir acentos).")


class TrackQuery(Input):
    code: str = Field("", max_length=100, description="Código de seguimiento del acuse.")


class RouteIn(Input):
    department: str = Field(max_length=20)
    note: str | None = Field(None, max_length=4000)
    due_days: int | None = None


class ActionIn(Input):
    """Una acción del turnado."""

    field_messages: ClassVar[dict[str, str]] = {
        "action": "Acción desconocida. Valores admitidos: "
                  + ", ".join(a.value for a in Action if a is not Action.ANSWER) + ".",
    }

    action: Annotated[Action, BeforeValidator(_lower)]
    department: str | list[str] | None = Field(None, description="Área (o áreas) destino.")
    routes: list[RouteIn] | None = Field(None, description="Turnar a varias áreas, cada una con su plazo.")
    user: str | None = Field(None, max_length=254, description="Correo de la persona a asignar.")
    note: str | None = Field(None, max_length=4000)
    due_days: int | None = Field(None, description="Plazo en días hábiles.")


class MessageIn(Input):
    body: str = Field("", max_length=20_000)


class FieldUpdateIn(Input):
    stage: str | None = Field(None, max_length=40, description="Etapa: avance, inicio, terminado…")
    text: str | None = Field(None, max_length=20_000)
    materials: str | None = Field(None, max_length=20_000)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class OutboxQuery(Input):
    field_messages: ClassVar[dict[str, str]] = {"status": "Estado desconocido: use pending, sent o failed."}

    status: choice(NotificationStatus) = None  # type: ignore[valid-type]
    folio: str | None = Field(None, max_length=40)
    limit: int = Field(50, ge=1, le=200)


# --- responses ----------------------------------------------------------------------------------


class OcrProgress(Output):
    done: int
    total: int | None


class DocumentOut(Output):
    id: int
    filename: str
    content_type: str
    sha256: str
    pages: int
    size: int
    ocr: str = Field(description="pending, running, done o failed")
    ocr_progress: OcrProgress
    ocr_error: str | None
    url: str
    searchable_url: str | None


class PaymentOut(Output):
    """Orden de pago de derechos de un trámite con costo."""

    amount: str = Field(description="Importe en pesos, con dos decimales.")
    reference: str = Field(description="Referencia bancaria de 12 dígitos (algoritmo 97).")
    reference_display: str
    status: str = Field(description="`pending` o `paid`.")
    status_label: str
    issued_at: str | None
    paid_at: str | None
    order_url: str | None = Field(description="Orden imprimible; solo al presentar (lleva el código de seguimiento).")


class FilingCreated(Output):
    """Escrito recibido: folio, código de seguimiento (se muestra una vez) y acuse."""

    folio: str
    tracking_code: str
    status: str
    received_at: str
    receipt_url: str
    tracking_url: str
    documents: list[DocumentOut]
    payment: PaymentOut | None = Field(description="Orden de pago, si el trámite tiene costo.")


class FilingSummary(Output):
    """Un escrito."""

    folio: str
    status: str
    received_at: str | None
    due_at: str | None
    subject: str
    channel: str
    procedure: str | None
    department: str | None
    filer_name: str
    filer_kind: str
    filer_gender: str


class FilingListItem(FilingSummary):
    rank: float | None = None
    snippet: str | None = None


class FilingList(Output):
    """Escritos visibles para quien llama."""

    filings: list[FilingListItem]
    total: int
    limit: int
    offset: int


class RoutingOut(Output):
    id: int
    department: str
    department_name: str
    kind: str
    status: str
    instruction: str | None
    assigned_to: str | None
    due_at: str | None
    created_at: str | None


class LogbookItem(Output):
    seq: int
    at: str | None
    event: str
    actor: str | None
    hash: str


class FilingDetail(FilingSummary):
    """El expediente completo que quien llama puede ver."""

    body: str
    filer_email: str | None
    physical_annexes: str | None
    received_by: str | None
    documents: list[DocumentOut]
    routing: list[RoutingOut]
    allowed_actions: list[str]
    payment: PaymentOut | None = Field(description="Orden de pago, si el trámite tiene costo.")
    logbook: list[LogbookItem] | None = None


class ActionResultOut(FilingSummary):
    """El escrito tras la acción."""

    routing: list[RoutingOut]
    allowed_actions: list[str]


class TimelineItem(Output):
    at: str | None
    event: str
    label: str
    department: str | None


class TrackOut(Output):
    """Vista pública del trámite."""

    folio: str
    status: str
    status_label: str
    received_at: str | None
    due_at: str | None
    timeline: list[TimelineItem]
    response: Any = None


class LogbookVerifyOut(Output):
    """Resultado de verificar la cadena de la bitácora."""

    ok: bool
    entries: int
    first_bad: int | None
    reason: str | None


class ProcedureOut(Output):
    code: str
    name: str
    department: str
    department_name: str | None = None
    response_days: int
    requirements: list[str]
    cost: str
    description: str
    url: str | None = None


class ProcedureList(Output):
    """Catálogo de trámites y servicios."""

    procedures: list[ProcedureOut]


class DepartmentOut(Output):
    code: str
    name: str
    parent: str | None


class DepartmentList(Output):
    """Áreas de la administración."""

    departments: list[DepartmentOut]


class PublicDocument(Output):
    id: int
    filename: str
    content_type: str
    size: int
    pages: int
    sha256: str
    url: str


class MessageOut(Output):
    """Un mensaje del hilo."""

    id: int
    at: str | None
    from_filer: bool
    author: str | None
    department: str | None
    body: str
    attachments: list[dict[str, Any]]
    resumed: bool | None = None
    resume_pending: bool | None = None


class Thread(Output):
    """El hilo entre quien presentó y el área."""

    folio: str
    messages: list[MessageOut]


class FieldUpdateOut(Output):
    """Un avance de campo."""

    id: int
    at: str | None
    stage: str
    stage_label: str
    text: str | None
    materials: str | None
    latitude: float | None
    longitude: float | None
    department: str | None
    photos: list[dict[str, Any]]


class FieldUpdates(Output):
    """Avances de campo de un escrito."""

    folio: str
    updates: list[FieldUpdateOut]


class NotificationOut(Output):
    id: int
    created_at: str | None
    folio: str | None
    kind: str
    to: str | None
    subject: str
    body: str
    status: str
    attempts: int
    sent_at: str | None
    error: str | None


class Outbox(Output):
    """Correos escritos por el sistema."""

    notifications: list[NotificationOut]


# --- responses -----------------------------------------------------------------------------------


class ResponseDraftIn(Input):
    sense: str = Field(max_length=20, description="Sentido: favorable, desfavorable, parcial o informativa.")
    text: str | None = Field(None, max_length=50_000, description="Texto de la respuesta (se redacta como oficio); "
                             "o bien envíe el PDF en «file».")
    signers: str | None = Field(None, max_length=2000, description="Correos de quienes firman, en orden, separados "
                                "por comas (también puede repetirse el campo). Sin él firma quien llama, si puede, o "
                                "el titular del área.")


class ResponseEditIn(Input):
    sense: str | None = Field(None, max_length=20, description="Sentido nuevo (favorable, desfavorable, parcial o "
                              "informativa); sin él, se conserva.")
    text: str | None = Field(None, max_length=50_000, description="Texto nuevo (se redacta como oficio); o bien "
                             "el PDF nuevo en «file». Sin ninguno de los dos, el documento conserva su origen: el "
                             "oficio se redacta de nuevo con su texto, el PDF subido queda igual.")
    signers: str | None = Field(None, max_length=2000, description="Correos de quienes firman, en orden, separados "
                                "por comas; sin él, firman los mismos.")


class SignIn(Input):
    #: the credential's password: kept only for this request, never logged (SecretStr hides it)
    password: SecretStr | None = Field(None, max_length=200, description="Contraseña de la llave privada o del "
                                       "PKCS#12. Se usa solo para esta firma; nunca se guarda.")


class ResponseSignerOut(Output):
    position: int
    email: str
    name: str
    signed_at: str | None
    level: str | None
    due: bool


class ResponseOut(Output):
    id: int
    status: str = Field(description="draft, signing, issued o cancelled")
    folio: str
    sense: str
    department: str
    created_at: str | None
    issued_at: str | None
    sha256: str
    download_url: str
    signers: list[ResponseSignerOut] | None = None


class ResponseList(Output):
    responses: list[ResponseOut]


class SignedOut(Output):
    document_id: int = Field(description="Id de la respuesta; su PDF en `GET /responses/{id}/pdf`.")
    sha256: str
    signer: str
    level: str = Field(description="Nivel PAdES alcanzado: B-B, B-T, B-LT o B-LTA.")
    status: str
    issued: bool
    download_url: str


# --- verification --------------------------------------------------------------------------------


class VerifyQuery(Input):
    format: str | None = Field(None, max_length=10, description="`pdf` para el informe en PDF sellado.")
    folio: str | None = Field(None, max_length=40, description="Folio al que debería corresponder el documento.")


class SignatureReportOut(Output):
    signer: str | None
    intact: bool
    trusted: bool
    changes_after_signing: str
    level: str | None
    verdict: str


class VerifyOut(Output):
    verdict: str = Field(description="valid, not_valid o cannot_verify")
    reason: str
    signatures: list[SignatureReportOut]


# --- statistics ----------------------------------------------------------------------------------


class StatsQuery(Input):
    by: str | None = Field(None, max_length=20, description="day, month, year, department, procedure, gender, "
                           "sense, channel (y otros; vea el mensaje de error).")
    from_: str | None = Field(None, alias="from", max_length=10, description="Desde (AAAA-MM-DD, hora local).")
    to: str | None = Field(None, max_length=10, description="Hasta (AAAA-MM-DD, incluido).")
    department: str | None = Field(None, max_length=20)
    procedure: str | None = Field(None, max_length=30)


class StatsRow(Output):
    key: str | None
    filings: int
    answered: int
    median_response_days: float | None
    overdue: int


class StatsOut(Output):
    by: str
    rows: list[StatsRow]
