"""Tracking codes and the public view of a filing.

A tracking code is 12 characters of Crockford's base-32 (60 random bits), printed as
``XXXX-XXXX-XXXX``: no I, L, O or U, so it is easy to read aloud and type. It is shown once, on
the acuse, and stored only as ``SHA-256(folio:code)``. Whoever holds the folio and the code
sees the public timeline; a wrong code answers exactly like an unknown folio.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from workflows.models import LogbookEntry
from workflows.states import STATE_LABELS, FilingState

from .db import DbSession
from .models import Department, Filing

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
# Crockford's decoding rules: the letters people confuse with digits.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})

EVENT_LABELS = {
    "received": "Escrito recibido",
    "routed": "Turnado al área competente",
    "accepted": "Recibido por el área",
    "forwarded": "Reasignado a otra área",
    "returned": "Devuelto por no ser competencia del área",
    "info_requested": "Se solicitó información al solicitante",
    "resumed": "Se reanudó la atención",
    "answered": "Respuesta emitida",
    "response_drafted": "Respuesta redactada",
    "response_signed": "Respuesta firmada",
    "response_sign_refused": "Firma de la respuesta rechazada",
    "response_issued": "Respuesta sellada y emitida",
    "response_cancelled": "Borrador de respuesta cancelado",
    "concluded": "Trámite concluido",
    "assigned": "Asignado a una persona del área",
    "copied": "Copia para conocimiento",
    "escalated": "Plazo vencido: se avisó al titular y a la contraloría",
    "notification_sent": "Aviso enviado por correo",
    "calendar_changed": "Cambio en el calendario de días inhábiles",
    "viewed": "Consulta del expediente",
    "rejected": "No admitido",
    "message": "Mensaje",
    "field_update": "Actualización de la cuadrilla",
    "protest_filed": "Protesta ciudadana presentada",
    "payment_order_issued": "Orden de pago emitida: en espera del pago de derechos",
    "payment_received": "Pago de derechos acreditado",
    "protest_resolved": "Protesta ciudadana resuelta",
    # field updates by stage ("field_update.<stage>", the stage is in the entry's data)
    "field_update.salida": "La cuadrilla salió",
    "field_update.llegada": "La cuadrilla llegó",
    "field_update.avance": "Avance de los trabajos",
    "field_update.termino": "La cuadrilla terminó",
}


def new_code() -> str:
    """A fresh code, grouped as ``XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(code: str) -> str:
    """Uppercase, drop separators and spaces, read O as 0 and I/L as 1."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_CONFUSABLE)


def hash_code(folio: str, code: str) -> str:
    return hashlib.sha256(f"{folio}:{normalize_code(code)}".encode()).hexdigest()


def code_matches(filing: Filing, code: str) -> bool:
    return hmac.compare_digest(filing.tracking_code_hash, hash_code(filing.folio, code))


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    event: str
    label: str
    department: str | None


@dataclass(frozen=True)
class PublicView:
    folio: str
    status: FilingState
    status_label: str
    received_at: datetime
    due_at: datetime | None
    subject: str
    timeline: tuple[TimelineItem, ...]


def find_for_tracking(session: DbSession, folio: str, code: str) -> Filing | None:
    """The filing if ``code`` opens it; ``None`` alike for an unknown folio or a wrong code."""
    folio = folio.strip().upper()
    filing = session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    if filing is None:
        # Spend the same work as a real check, so timing does not tell folios apart.
        hmac.compare_digest("0" * 64, hash_code(folio, code))
        return None
    return filing if code_matches(filing, code) else None


def _label(entry: LogbookEntry) -> str:
    """The Spanish label of a logbook event; a field update is named by its stage."""
    if entry.event == "field_update":
        stage = json.loads(entry.content).get("data", {}).get("stage")
        return EVENT_LABELS.get(f"field_update.{stage}", EVENT_LABELS["field_update"])
    return EVENT_LABELS.get(entry.event, entry.event)


def public_view(session: DbSession, filing: Filing) -> PublicView:
    """What the filer sees: state, dates and the public part of the logbook."""
    rows = session.execute(
        select(LogbookEntry, Department.name)
        .outerjoin(Department, Department.id == LogbookEntry.department_id)
        .where(LogbookEntry.filing_id == filing.id, LogbookEntry.public.is_(True))
        .order_by(LogbookEntry.seq)).all()
    timeline = tuple(
        TimelineItem(at=entry.at, event=entry.event, label=_label(entry), department=dept_name)
        for entry, dept_name in rows)
    return PublicView(folio=filing.folio, status=filing.status, status_label=STATE_LABELS[filing.status],
                      received_at=filing.received_at, due_at=filing.due_at, subject=filing.subject,
                      timeline=timeline)
