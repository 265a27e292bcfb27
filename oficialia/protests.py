"""Protesta ciudadana: the filer protests that a public servant refused a procedure, or demanded
something the law does not ask for, without legal grounds.

A protest is a filing of its own: it takes its folio from the same sequence as every filing
(:func:`oficialia.folio.next_number`, inside this transaction), gets its own tracking code, and
is routed at once to the internal audit department (``AUDIT_DEPARTMENT``) with the legal term
``PROTEST_RESPONSE_DAYS`` (working days, on the workflows calendar). So it reuses the logbook,
the audit department's Bandeja, the deadlines sweep and the statistics of filings. This module
adds what is particular to it: the :class:`Protest` row that links it to the protested filing
and to the protested department, and its outcome (founded / unfounded, with the resolution),
which the filer sees on the original filing's tracking page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.logbook import append_entry
from workflows.models import Routing, RoutingKind, RoutingStatus
from workflows.notifications import notify_after_commit, notify_filer, queue_delivery, receipt_notice
from workflows.routing import ActionRequest, perform_action, working_calendar
from workflows.states import Action, FilingState

from .db import DbSession, UTCDateTime, db, str_enum, utcnow
from .errors import Conflict, Forbidden, InvalidInput, NotFound, OficialiaError
from .folio import format_folio, next_number
from .forms import clean_text
from .intake import IntakeSettings
from .models import Channel, Department, Filing, Role, User
from .stats import record_received
from .tracking import find_for_tracking, hash_code, new_code

TEXT_MIN = 20
TEXT_MAX = 4000
RESOLUTION_MAX = 8000


class ProtestReason(StrEnum):
    #: the procedure or the service was refused without legal grounds
    REFUSAL = "negativa"
    #: a requirement, fee or step the law does not provide for was demanded
    UNJUSTIFIED_DEMAND = "exigencia"


REASON_LABELS = {
    ProtestReason.REFUSAL: "Negativa injustificada del trámite o servicio",
    ProtestReason.UNJUSTIFIED_DEMAND: "Exigencia de requisitos, pagos o pasos no previstos en la ley",
}


class ProtestOutcome(StrEnum):
    FOUNDED = "fundada"
    UNFOUNDED = "infundada"


OUTCOME_LABELS = {ProtestOutcome.FOUNDED: "Fundada", ProtestOutcome.UNFOUNDED: "Infundada"}


class Protest(db.Model):  # type: ignore[name-defined,misc]
    """A protesta ciudadana: its own filing, the protested filing and department, the outcome."""

    __tablename__ = "protests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the protest's own filing (its folio, tracking code, routing to internal audit)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, unique=True)
    #: the filing whose attention is protested
    original_id: Mapped[int] = mapped_column(ForeignKey("filings.id"), nullable=False, index=True)
    #: the department protested (the last one that held the original, else the one addressed)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    reason: Mapped[ProtestReason] = mapped_column(str_enum(ProtestReason, 20), nullable=False)
    outcome: Mapped[ProtestOutcome | None] = mapped_column(str_enum(ProtestOutcome, 20), index=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    filing: Mapped[Filing] = relationship(foreign_keys=[filing_id])
    original: Mapped[Filing] = relationship(foreign_keys=[original_id])
    department: Mapped[Department | None] = relationship()

    @property
    def reason_label(self) -> str:
        return REASON_LABELS[self.reason]

    @property
    def outcome_label(self) -> str:
        return OUTCOME_LABELS[self.outcome] if self.outcome else "En revisión"


class AuditDepartmentMissing(OficialiaError):
    http_status = 503
    code = "audit_department_missing"
    default_message = ("El área de control interno no está configurada; por ahora no se pueden recibir protestas. "
                       "Acuda a la Oficialía de Partes.")


@dataclass(frozen=True)
class ProtestFiled:
    protest: Protest
    #: the protest's own tracking code, shown once
    tracking_code: str


def parse_reason(raw: object) -> ProtestReason:
    try:
        return ProtestReason(str(raw or "").strip().lower())
    except ValueError:
        raise InvalidInput("Elija el motivo de la protesta: «negativa» (negativa injustificada) o «exigencia» "
                           "(exigencia de requisitos no previstos).", field="reason") from None


def _clean_text(raw: str | None) -> str:
    text = clean_text(raw, multiline=True)
    if len(text) < TEXT_MIN:
        raise InvalidInput(f"Describa en al menos {TEXT_MIN} caracteres qué ocurrió: quién, cuándo y qué se le "
                           "negó o exigió.", field="text")
    if len(text) > TEXT_MAX:
        raise InvalidInput(f"La descripción no puede exceder {TEXT_MAX} caracteres.", field="text")
    return text


def protest_of(session: DbSession, filing: Filing) -> Protest | None:
    """The protest ``filing`` is, if it is one."""
    return session.execute(select(Protest).where(Protest.filing_id == filing.id)).scalar_one_or_none()


def protests_about(session: DbSession, filing: Filing) -> list[Protest]:
    """The protests filed about ``filing``, oldest first."""
    return list(session.execute(select(Protest).where(Protest.original_id == filing.id)
                                .order_by(Protest.id)).scalars())


def can_protest(session: DbSession, filing: Filing) -> bool:
    """A filing may be protested unless it is a protest itself or one about it is still open."""
    if protest_of(session, filing) is not None:
        return False
    return not any(p.outcome is None for p in protests_about(session, filing))


def _protested_department(session: DbSession, filing: Filing) -> int | None:
    last = session.execute(select(Routing.department_id).where(
        Routing.filing_id == filing.id, Routing.kind == RoutingKind.TURN).order_by(Routing.id.desc()).limit(1)
    ).scalar_one_or_none()
    return last if last is not None else filing.department_id


def file_protest(session: DbSession, *, folio: str, code: str, reason: object, text: str | None,
                 settings: IntakeSettings, audit_department: str, response_days: int) -> ProtestFiled:
    """Receive a protest about ``folio`` from whoever holds its tracking code; commit.

    :raises NotFound: unknown folio or wrong code (alike).
    :raises InvalidInput: no reason, too short a text, or the filing is a protest itself.
    :raises Conflict: a protest about the same filing is still open.
    :raises AuditDepartmentMissing: ``audit_department`` is not an active department.
    """
    original = find_for_tracking(session, folio, code)
    if original is None:
        raise NotFound("No encontramos un trámite con ese folio y código de seguimiento.")
    why = parse_reason(reason)
    body = _clean_text(text)
    if protest_of(session, original) is not None:
        raise InvalidInput("Una protesta no puede protestarse; si no está conforme con su resolución, acuda al "
                           "órgano interno de control.")
    audit = session.execute(select(Department).where(
        Department.code == audit_department.strip().upper(), Department.active.is_(True))).scalar_one_or_none()
    if audit is None:
        raise AuditDepartmentMissing()
    try:
        now = utcnow()
        year = now.astimezone(ZoneInfo(settings.timezone)).year
        number = next_number(session, settings.office, year)  # also serialises concurrent protests
        if not can_protest(session, original):
            raise Conflict("Ya hay una protesta en revisión sobre este trámite; espere su resolución.")
        new_folio = format_folio(settings.folio_format, office=settings.office, year=year, seq=number)
        tracking_code = new_code()
        due = working_calendar(session).add_working_days(now, response_days, settings.timezone)
        filing = Filing(
            folio=new_folio, office=settings.office, year=year, number=number,
            subject=f"Protesta ciudadana sobre el folio {original.folio}"[:300], body=body,
            department=audit, filer_id=original.filer_id, filer_name=original.filer_name,
            filer_email=original.filer_email, filer_phone=original.filer_phone, filer_kind=original.filer_kind,
            filer_gender=original.filer_gender, channel=Channel.WEB, status=FilingState.ROUTED,
            received_at=now, tracking_code_hash=hash_code(new_folio, tracking_code), due_at=due)
        session.add(filing)
        session.flush()
        protest = Protest(filing_id=filing.id, original_id=original.id, reason=why, created_at=now,
                          department_id=_protested_department(session, original))
        session.add(protest)
        session.add(Routing(filing_id=filing.id, department_id=audit.id, kind=RoutingKind.TURN,
                            status=RoutingStatus.PENDING, due_at=due, created_at=now,
                            instruction=f"Protesta ciudadana: {REASON_LABELS[why]}."))
        actor_label = f"{original.filer_name} (código de seguimiento)"
        append_entry(session, event="received", filing_id=filing.id, filing_folio=new_folio, actor_label=actor_label,
                     department_id=audit.id, public=True, at=now,
                     data={"channel": Channel.WEB.value, "protest_of": original.folio, "reason": why.value})
        append_entry(session, event="routed", filing_id=filing.id, filing_folio=new_folio,
                     actor_label="Turno automático de protestas", department_id=audit.id, public=True, at=now,
                     data={"action": "route", "from": FilingState.RECEIVED.value, "to": FilingState.ROUTED.value,
                           "departments": [audit.code], "automatic": True})
        append_entry(session, event="protest_filed", filing_id=original.id, filing_folio=original.folio,
                     actor_label=actor_label, department_id=protest.department_id, public=True, at=now,
                     data={"protest_folio": new_folio, "reason": why.value})
        record_received(session, filing, tz=settings.timezone)
        notice = receipt_notice(session, filing)  # the filer's "received" e-mail, with the protest
        notice_ids = [notice.id] if notice is not None else []
        session.commit()
    except BaseException:
        session.rollback()
        raise
    queue_delivery(session, notice_ids)
    return ProtestFiled(protest=protest, tracking_code=tracking_code)


def can_resolve(user: User, protest: Protest) -> bool:
    """Staff and signers of the audit department (where the protest is), and admins."""
    if user.role is Role.ADMIN:
        return True
    return user.role in (Role.STAFF, Role.SIGNER) and user.department_id == protest.filing.department_id


def resolve_protest(session: DbSession, protest: Protest, actor: User, *, outcome: object, resolution: str | None,
                    tz: str) -> Protest:
    """Record the outcome of ``protest`` and conclude its filing, in one transaction.

    The audit department first receives the protest in its Bandeja (``accept``), as any filing.

    :raises Forbidden: the actor is not of the audit department (nor an admin).
    :raises InvalidInput: no outcome or no resolution text.
    :raises Conflict: already resolved, or not yet received by the department.
    """
    if not can_resolve(actor, protest):
        raise Forbidden("Solo el área de control interno resuelve las protestas ciudadanas.")
    try:
        result = ProtestOutcome(str(outcome or "").strip().lower())
    except ValueError:
        raise InvalidInput("Indique si la protesta es «fundada» o «infundada».", field="outcome") from None
    text = clean_text(resolution, multiline=True)
    if not text:
        raise InvalidInput("Escriba la resolución que se comunicará al solicitante.", field="resolution")
    if len(text) > RESOLUTION_MAX:
        raise InvalidInput(f"La resolución no puede exceder {RESOLUTION_MAX} caracteres.", field="resolution")
    if protest.outcome is not None:
        raise Conflict("Esta protesta ya fue resuelta.")
    if protest.filing.status is not FilingState.IN_PROGRESS:
        raise Conflict("Reciba primero la protesta en la bandeja del área («Recibir en el área»); después "
                       "podrá resolverla.")
    now = utcnow()
    protest.outcome, protest.resolution, protest.resolved_at, protest.resolved_by_id = result, text, now, actor.id
    original = protest.original
    append_entry(session, event="protest_resolved", filing_id=original.id, filing_folio=original.folio,
                 actor_label=f"{actor.name} <{actor.email}>", actor_id=actor.id,
                 department_id=protest.filing.department_id, public=True, at=now,
                 data={"protest_folio": protest.filing.folio, "outcome": result.value})
    try:
        # concludes the protest's filing and commits the outcome with it
        perform_action(session, protest.filing, actor,
                       ActionRequest(action=Action.CONCLUDE, note=f"Protesta {result.value}: {text}"), tz=tz)
    except BaseException:
        session.rollback()
        raise
    # the filer hears of the outcome on the protested filing (never undoes the resolution)
    notify_after_commit(session, f"protesta {protest.filing.folio}", lambda: [n for n in [notify_filer(
        session, original, "protest_resolved", protest_folio=protest.filing.folio, outcome=protest.outcome_label,
        resolution=text)] if n])
    return protest


def get_protest(session: DbSession, folio: str) -> Protest:
    """The protest whose own folio is ``folio``.

    :raises NotFound: none.
    """
    protest = session.execute(select(Protest).join(Filing, Filing.id == Protest.filing_id)
                              .where(Filing.folio == folio.strip().upper())).scalar_one_or_none()
    if protest is None:
        raise NotFound("No existe una protesta con ese folio.")
    return protest


@dataclass(frozen=True)
class ProtestStatsRow:
    department_code: str | None
    department: str
    filed: int
    pending: int
    founded: int
    unfounded: int

    def as_dict(self) -> dict[str, object]:
        return {"department": self.department_code, "department_name": self.department, "filed": self.filed,
                "pending": self.pending, "founded": self.founded, "unfounded": self.unfounded}


def protest_stats(session: DbSession, *, start: datetime | None = None, end: datetime | None = None,
                  department_id: int | None = None) -> list[ProtestStatsRow]:
    """Protests per protested department and their outcomes, filed in ``[start, end)``."""
    stmt = (select(Department.code, Department.name, Protest.outcome, func.count(Protest.id))
            .select_from(Protest).outerjoin(Department, Department.id == Protest.department_id)
            .group_by(Department.code, Department.name, Protest.outcome))
    if start is not None:
        stmt = stmt.where(Protest.created_at >= start)
    if end is not None:
        stmt = stmt.where(Protest.created_at < end)
    if department_id is not None:
        stmt = stmt.where(Protest.department_id == department_id)
    acc: dict[tuple[str | None, str], dict[str, int]] = {}
    for code, name, outcome, count in session.execute(stmt):
        row = acc.setdefault((code, name or "Sin área"), {"pending": 0, "founded": 0, "unfounded": 0})
        key = "pending" if outcome is None else ("founded" if outcome == ProtestOutcome.FOUNDED else "unfounded")
        row[key] += int(count)
    return [ProtestStatsRow(department_code=code, department=name, filed=sum(v.values()), **v)
            for (code, name), v in sorted(acc.items(), key=lambda kv: kv[0][1])]
