"""Field updates: the progress a crew posts on a filing (the crew left, arrived, progress,
finished), with text, materials used, optional coordinates and photos.

Owns the checks of what a crew sends (stage, text, coordinates within range, photos that are
really JPEG or PNG), who may post (officials of a department holding an active turn of the
filing), the storage of the photos (write-once, hashed, :class:`~oficialia.models.Document`
rows with ``source="field_update"``) and the public logbook entry that puts the stage on the
filer's timeline.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import select

from oficialia.db import DbSession, utcnow
from oficialia.dispatch import Dispatcher
from oficialia.errors import Conflict, Forbidden, InvalidInput, UnsupportedFileType
from oficialia.forms import clean_text
from oficialia.intake import IntakeSettings, Upload, inspect_uploads
from oficialia.models import Department, Document, Filing, Role, User
from storage import ObjectStore

from .logbook import append_entry
from .machine import is_final
from .messages import attach_documents, documents_by_owner, store_uploads
from .models import FieldUpdate
from .routing import active_routings

#: stage -> what the filer reads on the timeline
STAGE_LABELS: dict[str, str] = {
    "salida": "La cuadrilla salió",
    "llegada": "La cuadrilla llegó",
    "avance": "Avance de los trabajos",
    "termino": "La cuadrilla terminó",
}
_STAGE_ALIASES = {"término": "termino", "terminó": "termino", "llegó": "llegada", "salió": "salida"}
TEXT_MAX = 10_000
MATERIALS_MAX = 4_000
MAX_PHOTOS = 20
PHOTO_KINDS = frozenset({"jpeg", "png"})
DEPARTMENT_ROLES = frozenset({Role.STAFF, Role.SIGNER})


@dataclass(frozen=True)
class FieldUpdateForm:
    stage: str
    text: str
    materials: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class UpdateView:
    update: FieldUpdate
    photos: tuple[Document, ...]
    department: str | None

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS.get(self.update.stage, self.update.stage)


def _coordinate(raw: object, name: str, label: str, limit: float) -> float | None:
    text = str(raw).strip().replace(",", ".") if raw is not None else ""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"La {label} debe ser un número en grados decimales.", field=name) from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise InvalidInput(f"La {label} debe estar entre -{limit:g} y {limit:g} grados.", field=name)
    return round(value, 7)


def parse_field_update(data: Mapping[str, object]) -> FieldUpdateForm:
    """A :class:`FieldUpdateForm` from form fields: ``stage``, ``text``, ``materials``,
    ``latitude``, ``longitude``.

    :raises InvalidInput: naming the field at fault, in Spanish.
    """
    raw_stage = clean_text(str(data.get("stage") or "avance")).lower()
    stage = _STAGE_ALIASES.get(raw_stage, raw_stage)
    if stage not in STAGE_LABELS:
        raise InvalidInput("Etapa desconocida. Valores admitidos: " + ", ".join(STAGE_LABELS) + ".", field="stage")
    text = clean_text(str(data.get("text") or ""), multiline=True)
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"El texto no puede exceder {TEXT_MAX} caracteres.", field="text")
    materials = clean_text(str(data.get("materials") or ""), multiline=True)
    if len(materials) > MATERIALS_MAX:
        raise InvalidInput(f"Los materiales no pueden exceder {MATERIALS_MAX} caracteres.", field="materials")
    latitude = _coordinate(data.get("latitude"), "latitude", "latitud", 90.0)
    longitude = _coordinate(data.get("longitude"), "longitude", "longitud", 180.0)
    if (latitude is None) != (longitude is None):
        raise InvalidInput("Envíe la latitud y la longitud juntas, o ninguna.",
                           field="longitude" if longitude is None else "latitude")
    return FieldUpdateForm(stage=stage, text=text, materials=materials, latitude=latitude, longitude=longitude)


def _holding_department(session: DbSession, filing: Filing, author: User) -> int:
    if author.role in DEPARTMENT_ROLES and author.department_id is not None \
            and active_routings(filing.id, session, author.department_id):
        return author.department_id
    raise Forbidden("Solo el personal de un área que atiende el escrito puede registrar avances de campo.")


def post_field_update(session: DbSession, store: ObjectStore, filing: Filing, *, author: User,
                      form: FieldUpdateForm, photos: Sequence[Upload], settings: IntakeSettings,
                      dispatcher: Dispatcher | None = None) -> UpdateView:
    """Record one field update with its photos, and commit.

    :raises Forbidden: the author's department holds no active turn of the filing.
    :raises Conflict: the filing is concluded or not admitted.
    :raises InvalidInput: too many photos.
    :raises UnsupportedFileType: (415) a photo is not a JPEG or PNG image.
    :raises RejectedFile: a photo is damaged or too large.
    :raises StorageUnavailable: the photos could not be stored; nothing is recorded.
    """
    department_id = _holding_department(session, filing, author)
    if is_final(filing.status):
        raise Conflict("El trámite está concluido; ya no admite avances de campo.")
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"Envíe como máximo {MAX_PHOTOS} fotografías por avance.", field="photos")
    inspected = inspect_uploads(photos, settings)
    for upload, info in zip(photos, inspected, strict=True):
        if info.kind not in PHOTO_KINDS:
            raise UnsupportedFileType("Las fotografías deben ser imágenes JPEG o PNG.", filename=upload.filename)
    stored = store_uploads(store, photos, inspected)
    try:
        update = FieldUpdate(filing_id=filing.id, created_at=utcnow(), author_id=author.id,
                             department_id=department_id, stage=form.stage, text=form.text,
                             materials=form.materials, latitude=form.latitude, longitude=form.longitude)
        session.add(update)
        session.flush()
        documents = attach_documents(session, filing, photos, inspected, stored, source="field_update",
                                     field_update_id=update.id)
        append_entry(session, event="field_update", actor_label=f"{author.name} <{author.email}>",
                     actor_id=author.id, filing_id=filing.id, filing_folio=filing.folio,
                     department_id=department_id, public=True, at=update.created_at,
                     data={"field_update_id": update.id, "stage": form.stage,
                           "stage_label": STAGE_LABELS[form.stage],
                           "text_sha256": hashlib.sha256(f"{form.text}\n{form.materials}".encode()).hexdigest(),
                           "latitude": form.latitude, "longitude": form.longitude,
                           "photos": [{"sha256": d.sha256, "size": d.size} for d in documents]})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if dispatcher is None and has_app_context():
        dispatcher = current_app.extensions.get("dispatcher")
    if dispatcher is not None:  # photos become searchable, stamped PDF/A copies like any document
        for document in documents:
            dispatcher.enqueue_ocr(document.id)
    dept = session.get(Department, department_id)
    return UpdateView(update=update, photos=tuple(documents), department=dept.name if dept else None)


def field_updates(session: DbSession, filing: Filing) -> list[UpdateView]:
    """The filing's field updates, oldest first, with their photos and department."""
    rows = session.execute(
        select(FieldUpdate, Department.name).outerjoin(Department, Department.id == FieldUpdate.department_id)
        .where(FieldUpdate.filing_id == filing.id).order_by(FieldUpdate.created_at, FieldUpdate.id)).all()
    photos = documents_by_owner(session, filing, "field_update", [u.id for u, _ in rows])
    return [UpdateView(update=u, photos=tuple(photos[u.id]), department=name) for u, name in rows]
