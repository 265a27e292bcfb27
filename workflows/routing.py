"""Routing actions (turnado): the filing's state change, its routings and the logbook entry, in
one transaction. Only this module writes ``filing.status``.

Who may do what:

* the mail-room (clerks) and admins route, copy, reject and re-route what comes back;
* department staff and signers act on filings routed to their department (accept, assign,
  forward, copy, return, request information, resume, conclude, reject on first reading);
* a copy (para conocimiento) gives read access only; auditors read and never act.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from oficialia.db import DbSession, utcnow
from oficialia.models import Department, Filing, Role, User
from oficialia.payments import payment_pending
from oficialia.stats import record_answer
from oficialia.webhooks import emit_for_action

from .calendar import WorkingCalendar
from .errors import WorkflowError
from .logbook import append_entry
from .machine import apply
from .models import ACTIVE_ROUTING, Holiday, Routing, RoutingKind, RoutingStatus
from .notifications import after_action
from .states import Action, FilingState

MAIL_ROOM_ROLES = frozenset({Role.CLERK, Role.ADMIN})
DEPARTMENT_ROLES = frozenset({Role.STAFF, Role.SIGNER})
#: actions whose entry the filer sees on the tracking page
PUBLIC_ACTIONS = frozenset({Action.ROUTE, Action.ACCEPT, Action.FORWARD, Action.RETURN, Action.REQUEST_INFO,
                            Action.RESUME, Action.REJECT, Action.CONCLUDE, Action.ANSWER})
EVENTS = {
    Action.ROUTE: "routed", Action.ACCEPT: "accepted", Action.ASSIGN: "assigned", Action.FORWARD: "forwarded",
    Action.COPY: "copied", Action.RETURN: "returned", Action.REQUEST_INFO: "info_requested",
    Action.RESUME: "resumed", Action.REJECT: "rejected", Action.CONCLUDE: "concluded", Action.ANSWER: "answered",
}
MAX_DUE_DAYS = 365


class ActionForbidden(WorkflowError):
    http_status = 403
    code = "forbidden"
    default_message = "No tiene permiso para realizar esta acción sobre este escrito."


class ActionInvalid(WorkflowError):
    http_status = 422
    code = "invalid_input"
    default_message = "Los datos de la acción no son válidos."


@dataclass(frozen=True)
class Target:
    """One department a filing is routed, forwarded or copied to."""

    department: str
    note: str = ""
    due_days: int | None = None


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    targets: tuple[Target, ...] = ()
    #: e-mail of the person to assign
    user: str | None = None
    note: str = ""
    due_days: int | None = None


@dataclass
class ActionResult:
    filing: Filing
    state: FilingState
    routings: list[Routing] = field(default_factory=list)


def _int(value: object, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ActionInvalid(f"{what} debe ser un número entero de días hábiles.")
    try:
        return int(str(value))
    except ValueError:
        raise ActionInvalid(f"{what} debe ser un número entero de días hábiles.") from None


def parse_action(data: Mapping[str, Any]) -> ActionRequest:
    """An :class:`ActionRequest` from JSON or form data.

    ``department`` may be one code or a list; ``routes`` is a list of ``{department, note,
    due_days}`` for routing to several departments, each with its own instruction and term.

    :raises ActionInvalid: naming what is wrong, in Spanish.
    """
    raw = str(data.get("action") or "").strip().lower()
    try:
        action = Action(raw)
    except ValueError:
        raise ActionInvalid("Acción desconocida. Valores admitidos: "
                            + ", ".join(a.value for a in Action if a is not Action.ANSWER) + ".") from None
    if action is Action.ANSWER:
        raise ActionInvalid("Un escrito se responde emitiendo una respuesta firmada.")
    note = str(data.get("note") or "").strip()[:4000]
    due_days = _due_days(_int(data.get("due_days"), "El plazo"))
    targets: list[Target] = []
    routes = data.get("routes")
    if routes is not None:
        if not isinstance(routes, list) or not all(isinstance(r, Mapping) for r in routes):
            raise ActionInvalid("«routes» debe ser una lista de objetos {department, note, due_days}.")
        for r in routes:
            targets.append(Target(department=str(r.get("department") or "").strip(),
                                  note=str(r.get("note") or "").strip()[:4000],
                                  due_days=_due_days(_int(r.get("due_days"), "El plazo"))))
    department = data.get("department")
    if isinstance(department, list):
        targets.extend(Target(department=str(d).strip()) for d in department)
    elif department:
        targets.append(Target(department=str(department).strip()))
    if any(not t.department for t in targets):
        raise ActionInvalid("Indique la clave del área.")
    user = data.get("user")
    return ActionRequest(action=action, targets=tuple(targets), user=str(user).strip() if user else None,
                         note=note, due_days=due_days)


_HOLIDAYS = select(Holiday.__table__.c.day, Holiday.__table__.c.name, Holiday.__table__.c.working)


def working_calendar(session: DbSession) -> WorkingCalendar:
    """The official rest days plus the administration's own (``holidays`` table)."""
    rows = session.execute(_HOLIDAYS).all()  # plain rows, a statement built once: every intake
    return WorkingCalendar({day: name for day, name, working in rows if not working},
                           removed_days=[day for day, _name, working in rows if working])


def _department(session: DbSession, code: str) -> Department:
    dept = session.execute(
        select(Department).where(Department.code == code.strip().upper(), Department.active.is_(True))
    ).scalar_one_or_none()
    if dept is None:
        raise ActionInvalid(f"No existe el área «{code}».")
    return dept


def _due_days(value: int | None) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_DUE_DAYS:
        raise ActionInvalid(f"El plazo debe estar entre 1 y {MAX_DUE_DAYS} días hábiles.")
    return value


def active_routings(filing_id: int, session: DbSession, department_id: int | None = None) -> list[Routing]:
    stmt = select(Routing).where(Routing.filing_id == filing_id, Routing.kind == RoutingKind.TURN,
                                 Routing.status.in_(ACTIVE_ROUTING))
    if department_id is not None:
        stmt = stmt.where(Routing.department_id == department_id)
    return list(session.execute(stmt.order_by(Routing.id)).scalars())


class _Context:
    def __init__(self, session: DbSession, filing: Filing, actor: User, tz: str) -> None:
        self.session, self.filing, self.actor, self.tz = session, filing, actor, tz
        self.now = utcnow()
        self.calendar = working_calendar(session)
        self.mine = (active_routings(filing.id, session, actor.department_id)
                     if actor.role in DEPARTMENT_ROLES and actor.department_id else [])

    def require_mail_room(self) -> None:
        if self.actor.role not in MAIL_ROOM_ROLES:
            raise ActionForbidden("Solo la Oficialía de Partes puede turnar o rechazar escritos desde la recepción.")

    def require_holder(self) -> Routing | None:
        """The actor's own active routing; admins act for any department."""
        if self.actor.role is Role.ADMIN:
            holders = active_routings(self.filing.id, self.session)
            return holders[0] if holders else None
        if not self.mine:
            raise ActionForbidden("Este escrito no está turnado a su área.")
        return self.mine[0]

    def new_routing(self, dept: Department, kind: RoutingKind, note: str, due_days: int | None,
                    parent: Routing | None = None) -> Routing:
        due: datetime | None = self.filing.due_at
        if due_days is not None:
            due = self.calendar.add_working_days(self.now, due_days, self.tz)
        routing = Routing(filing_id=self.filing.id, department_id=dept.id, kind=kind, instruction=note,
                          due_at=due if kind is RoutingKind.TURN else None, parent_id=parent.id if parent else None,
                          created_at=self.now, created_by_id=self.actor.id, status=RoutingStatus.PENDING)
        routing.department = dept
        self.session.add(routing)
        return routing


def perform_action(session: DbSession, filing: Filing, actor: User, request: ActionRequest, *,
                   tz: str) -> ActionResult:
    """Apply one workflow action to ``filing`` as ``actor`` and commit.

    :raises InvalidTransition: (409) the action is not possible in the filing's state.
    :raises ActionForbidden: (403) the actor may not do it on this filing.
    :raises ActionInvalid: (422) a department, person or term is wrong.
    """
    if actor.role is Role.AUDITOR or actor.role is Role.CITIZEN:
        raise ActionForbidden()
    action = request.action
    # whether the state allows the action is answered first (409), then who may do it (403)
    new_state = apply(filing.status, action)
    ctx = _Context(session, filing, actor, tz)
    created: list[Routing] = []
    department_id = actor.department_id
    data: dict[str, object] = {"action": action.value, "from": filing.status.value, "to": new_state.value}
    if request.note:
        data["note"] = request.note

    if action is Action.ROUTE:
        ctx.require_mail_room()
        if payment_pending(session, filing):
            raise ActionInvalid("El escrito espera el pago de derechos de su trámite; se turna cuando el pago "
                                "se acredita (Pagos).")
        if not request.targets:
            raise ActionInvalid("Indique el área (o las áreas) a la que se turna.")
        for target in request.targets:
            dept = _department(session, target.department)
            if active_routings(filing.id, session, dept.id):
                raise ActionInvalid(f"El escrito ya está turnado a {dept.name}.")
            created.append(ctx.new_routing(dept, RoutingKind.TURN, target.note or request.note,
                                           _due_days(target.due_days if target.due_days is not None
                                                     else request.due_days)))
        department_id = created[0].department_id
        data["departments"] = [r.department.code for r in created]
    elif action is Action.COPY:
        if actor.role not in MAIL_ROOM_ROLES:
            ctx.require_holder()
        if not request.targets:
            raise ActionInvalid("Indique el área que recibe la copia para conocimiento.")
        for target in request.targets:
            created.append(ctx.new_routing(_department(session, target.department), RoutingKind.COPY,
                                           target.note or request.note, None))
        department_id = created[0].department_id
        data["departments"] = [r.department.code for r in created]
    elif action is Action.REJECT:
        if actor.role not in MAIL_ROOM_ROLES:
            holder = ctx.require_holder()
            if holder is None or holder.status is not RoutingStatus.PENDING:
                raise ActionForbidden("Solo puede no admitirse al recibirlo, antes de aceptarlo.")
        if not request.note:
            raise ActionInvalid("Explique el motivo por el que el escrito no se admite.")
        _close_all(ctx, RoutingStatus.CLOSED)
    elif action is Action.CONCLUDE and filing.status is FilingState.ANSWERED:
        # answering closed every turn: the departments that held one, or the mail room, conclude it
        if actor.role not in MAIL_ROOM_ROLES:
            held = session.execute(select(Routing.department_id).where(
                Routing.filing_id == filing.id, Routing.kind == RoutingKind.TURN)).scalars().all()
            if actor.department_id is None or actor.department_id not in held:
                raise ActionForbidden("Solo un área que atendió el escrito o la Oficialía de Partes puede concluirlo.")
            department_id = actor.department_id
    else:
        holder = ctx.require_holder()
        if holder is None:
            raise ActionForbidden("El escrito no está turnado a ningún área.")
        department_id = holder.department_id
        if action is Action.ACCEPT:
            if holder.status is not RoutingStatus.PENDING:
                raise ActionInvalid("Su área ya recibió este escrito.")
            holder.status, holder.accepted_at = RoutingStatus.ACCEPTED, ctx.now
        elif action is Action.ASSIGN:
            person = session.execute(select(User).where(User.email == (request.user or "").strip().lower(),
                                                        User.active.is_(True))).scalar_one_or_none()
            if person is None or person.department_id != holder.department_id:
                raise ActionInvalid("Indique a una persona activa del área que atiende el escrito.")
            holder.assigned_to = person
            data["assigned_to"] = person.email
        elif action is Action.FORWARD:
            if len(request.targets) != 1:
                raise ActionInvalid("Indique el área a la que se reasigna el escrito.")
            target = request.targets[0]
            dept = _department(session, target.department)
            if dept.id == holder.department_id:
                raise ActionInvalid("El escrito ya está en esa área.")
            holder.status, holder.closed_at = RoutingStatus.FORWARDED, ctx.now
            created.append(ctx.new_routing(dept, RoutingKind.TURN, target.note or request.note,
                                           _due_days(target.due_days if target.due_days is not None
                                                     else request.due_days), parent=holder))
            department_id = dept.id
            data["departments"] = [dept.code]
            # other departments may still hold their own turn: the filing stays in progress
            if any(r.id != holder.id and r.status is RoutingStatus.ACCEPTED
                   for r in active_routings(filing.id, session)):
                new_state = FilingState.IN_PROGRESS
        elif action is Action.RETURN:
            if not request.note:
                raise ActionInvalid("Explique por qué el escrito no es competencia de su área.")
            holder.status, holder.closed_at = RoutingStatus.RETURNED, ctx.now
            others = [r for r in active_routings(filing.id, session) if r.id != holder.id]
            if others:  # another department still attends it
                new_state = filing.status
        elif action is Action.REQUEST_INFO:
            if not request.note:
                raise ActionInvalid("Escriba qué información debe aportar el solicitante.")
            filing.paused_at = ctx.now
        elif action is Action.RESUME:
            paused = filing.paused_at or ctx.now
            if filing.due_at is not None:
                filing.due_at = ctx.calendar.shift_for_pause(filing.due_at, paused, ctx.now, tz)
            for r in active_routings(filing.id, session):
                if r.due_at is not None:
                    r.due_at = ctx.calendar.shift_for_pause(r.due_at, paused, ctx.now, tz)
            data["paused_working_days"] = ctx.calendar.working_days_between(paused, ctx.now, tz)
            filing.paused_at = None
        elif action in (Action.CONCLUDE, Action.ANSWER):
            _close_all(ctx, RoutingStatus.CLOSED)

    session.flush()
    filing.status = new_state
    if action is Action.ANSWER:  # the statistics count the answer in this same transaction
        record_answer(session, filing, at=ctx.now, tz=tz, calendar=ctx.calendar)
    data["to"] = new_state.value
    append_entry(session, event=EVENTS[action], actor_label=f"{actor.name} <{actor.email}>", actor_id=actor.id,
                 filing_id=filing.id, filing_folio=filing.folio, department_id=department_id,
                 public=action in PUBLIC_ACTIONS, data=data, at=ctx.now)
    session.commit()
    # after the commit, and never failing the action: e-mails to the filer and the assignee
    after_action(session, filing, actor, request, department_id=department_id)
    emit_for_action(session, action.value, filing)  # webhooks: routed, answered, concluded
    return ActionResult(filing=filing, state=new_state, routings=created)


def _close_all(ctx: _Context, status: RoutingStatus) -> None:
    for r in ctx.session.execute(select(Routing).where(
            Routing.filing_id == ctx.filing.id, Routing.status.in_(ACTIVE_ROUTING))).scalars():
        r.status, r.closed_at = status, ctx.now


def log_view(session: DbSession, filing: Filing, actor: User) -> None:
    """Record that an official opened the filing (auditors read who viewed what); commits."""
    append_entry(session, event="viewed", actor_label=f"{actor.name} <{actor.email}>", actor_id=actor.id,
                 filing_id=filing.id, filing_folio=filing.folio, department_id=actor.department_id,
                 public=False, data={})
    session.commit()


def routings_of(session: DbSession, filing: Filing) -> Sequence[Routing]:
    return session.execute(select(Routing).where(Routing.filing_id == filing.id).order_by(Routing.id)).scalars().all()
