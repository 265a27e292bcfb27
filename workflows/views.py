"""Web pages of the routing workflow (Spanish UI): the department inbox with deadline traffic
lights, the routing history and actions panel of a filing, the filer's reply on the tracking
page, the admin's calendar of rest days and the auditor's logbook.

Views parse input, check permission, call one service (:mod:`workflows.routing`,
:mod:`workflows.messages`, the calendar operations below) and render or redirect. The read-only
queries that shape a page live here, next to the page that shows them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from oficialia import access, search, tracking
from oficialia.auth import require_user
from oficialia.db import DbSession, UTCDateTime, db, utcnow
from oficialia.dispatch import get_dispatcher
from oficialia.errors import NotFound, OficialiaError
from oficialia.extensions import get_store, limiter
from oficialia.forms import clean_text
from oficialia.intake import IntakeSettings, Upload
from oficialia.models import Department, Filing, Role, User

from . import fieldwork, messages
from .calendar import WorkingCalendar, official_rest_days
from .deadlines import traffic_light
from .errors import WorkflowError
from .logbook import append_entry, verify_chain
from .machine import allowed_actions, is_final
from .models import (
    ACTIVE_ROUTING,
    Holiday,
    LogbookEntry,
    Notification,
    NotificationStatus,
    Routing,
    RoutingKind,
    RoutingStatus,
)
from .routing import (
    DEPARTMENT_ROLES,
    ActionRequest,
    ActionResult,
    active_routings,
    parse_action,
    perform_action,
    routings_of,
    working_calendar,
)
from .states import ACTION_LABELS, Action, FilingState

bp = Blueprint("workflows", __name__)

PAGE_SIZE = 50
#: how many full-text hits the inbox considers; a department's open filings are far fewer
SEARCH_LIMIT = 1000
OFFICIAL_ROLES = (Role.CLERK, Role.STAFF, Role.SIGNER, Role.AUDITOR, Role.ADMIN)
INBOX_ROLES = (Role.STAFF, Role.SIGNER, Role.ADMIN)
#: the states a filing with an active turn can be in (answered, concluded and rejected close them)
INBOX_STATES = (FilingState.ROUTED, FilingState.IN_PROGRESS, FilingState.AWAITING_FILER)

# --- deadline traffic light ---------------------------------------------------------------------

LIGHTS = ("green", "yellow", "red", "overdue")
LIGHT_LABELS = {"green": "En tiempo", "yellow": "Por vencer", "red": "Urgente", "overdue": "Vencido",
                "paused": "Plazo suspendido"}


def light_condition(light: str, due: Any, now: datetime, calendar: WorkingCalendar,
                    tz: str) -> ColumnElement[bool]:
    """The SQL condition "``due`` has traffic light ``light``", so the inbox filters and pages in
    the database.

    It mirrors :func:`workflows.deadlines.traffic_light` through day boundaries: with ``wd(n)``
    the local midnight that starts the n-th working day after today, 0–1 days left means
    ``due < wd(2)`` and 2–3 days ``wd(2) <= due < wd(4)`` (``tests/workflows/test_views.py``
    checks both agree around every day's end for three weeks).
    """
    zone = ZoneInfo(tz)

    def starts(n: int) -> datetime:
        day = calendar.add_working_days(now, n, tz).astimezone(zone).date()
        return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)

    if light == "overdue":
        return and_(due.is_not(None), due < now)
    if light == "red":
        return and_(due >= now, due < starts(2))
    if light == "yellow":
        return and_(due >= starts(2), due < starts(4))
    return and_(due >= starts(4))


@dataclass(frozen=True)
class Deadline:
    """A due instant and its light, as the pages show them."""

    due_at: datetime | None
    light: str | None

    @property
    def label(self) -> str:
        return LIGHT_LABELS.get(self.light or "", "")


class _Clock:
    """Now and the working calendar, loaded once per request."""

    def __init__(self, session: DbSession) -> None:
        self.now = utcnow()
        self.tz = _tz()
        self.calendar = working_calendar(session)

    def deadline(self, due_at: datetime | None, *, paused: bool = False) -> Deadline:
        if paused and due_at is not None:
            return Deadline(due_at, "paused")
        return Deadline(due_at, traffic_light(due_at, self.now, self.calendar, self.tz))


def _tz() -> str:
    return str(current_app.config["TIMEZONE"])




@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"LIGHT_LABELS": LIGHT_LABELS, "ACTION_LABELS": ACTION_LABELS, "Action": Action,
            "EVENT_LABELS": EVENT_LABELS}


# --- department inbox ---------------------------------------------------------------------------

@dataclass(frozen=True)
class InboxRow:
    routing: Routing
    filing: Filing
    deadline: Deadline
    snippet: Any = None


def _inbox_department(user: User) -> Department | None:
    """Staff and signers see their own department; admins the one they choose."""
    if user.role is Role.ADMIN:
        code = clean_text(request.args.get("area")).upper()
        if not code:
            return None
        dept = db.session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
        if dept is None:
            raise NotFound("No existe esa área.")
        return dept
    if user.department is None:
        abort(403)
    return user.department


@bp.get("/area")
def inbox() -> ResponseReturnValue:
    """The department's inbox: active turns (or copies) with deadline lights, due date first."""
    user = require_user(*INBOX_ROLES)
    dept = _inbox_department(user)
    tab = "copias" if request.args.get("vista") == "copias" else "turnos"
    state = request.args.get("estado", "")
    light = request.args.get("semaforo", "")
    mine = request.args.get("mios") == "1"
    q = clean_text(request.args.get("q"))
    page = max(1, request.args.get("pagina", 1, type=int) or 1)
    departments = db.session.execute(
        select(Department).where(Department.active.is_(True)).order_by(Department.name)).scalars().all()
    context: dict[str, Any] = {"dept": dept, "tab": tab, "state": state, "light": light, "mine": mine, "q": q,
                               "page": page, "page_size": PAGE_SIZE, "departments": departments,
                               "states": INBOX_STATES, "lights": LIGHTS, "rows": [], "total": 0,
                               "counts": {"turnos": 0, "copias": 0}}
    if dept is None:
        return render_template("workflows/inbox.html", **context)

    clock = _Clock(db.session)
    kind = RoutingKind.COPY if tab == "copias" else RoutingKind.TURN
    held = [Routing.department_id == dept.id, Routing.status.in_(ACTIVE_ROUTING)]
    conditions: list[ColumnElement[bool]] = [*held, Routing.kind == kind]
    if state in {s.value for s in INBOX_STATES}:
        conditions.append(Filing.status == FilingState(state))
    if mine:
        conditions.append(Routing.assigned_to_id == user.id)
    due = func.coalesce(Routing.due_at, Filing.due_at, type_=UTCDateTime())
    if light in LIGHTS and kind is RoutingKind.TURN:
        # a suspended clock has no light: its due date moves when the filer answers
        conditions += [Filing.paused_at.is_(None),
                       light_condition(light, due, clock.now, clock.calendar, clock.tz)]
    snippets: dict[int, Any] = {}
    if q:
        visible = select(Filing).where(Filing.id.in_(
            select(Routing.filing_id).where(*held, Routing.kind == kind)))
        hits, _ = search.search(db.session, visible, q, limit=SEARCH_LIMIT)
        snippets = {h.filing.id: h.snippet for h in hits}
        conditions.append(or_(Filing.folio == q.upper(), Filing.id.in_(list(snippets))))

    joined = select(func.count(Routing.id)).join(Filing, Filing.id == Routing.filing_id)
    total = db.session.execute(joined.where(*conditions)).scalar_one()
    for name, k in (("turnos", RoutingKind.TURN), ("copias", RoutingKind.COPY)):
        context["counts"][name] = db.session.execute(joined.where(*held, Routing.kind == k)).scalar_one()
    found = db.session.execute(
        select(Routing, Filing).join(Filing, Filing.id == Routing.filing_id).where(*conditions)
        .order_by(due.asc().nulls_last(), Filing.received_at, Routing.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    context["rows"] = [
        InboxRow(routing=r, filing=f, snippet=snippets.get(f.id),
                 deadline=clock.deadline(r.due_at or f.due_at, paused=f.paused_at is not None))
        for r, f in found]
    context["total"] = total
    return render_template("workflows/inbox.html", **context)


# --- the filing page: routing history, actions, messages, field updates -------------------------

#: what a department holding the filing may do (routing.py enforces it; this shapes the panel)
HOLDER_ACTIONS = frozenset({Action.ACCEPT, Action.ASSIGN, Action.FORWARD, Action.COPY, Action.RETURN,
                            Action.REQUEST_INFO, Action.RESUME, Action.CONCLUDE, Action.REJECT})
MAIL_ROOM_ACTIONS = frozenset({Action.ROUTE, Action.COPY, Action.REJECT})
ROUTING_STATUS_LABELS = {
    RoutingStatus.PENDING: "Por recibir", RoutingStatus.ACCEPTED: "En atención",
    RoutingStatus.FORWARDED: "Reasignado", RoutingStatus.RETURNED: "Devuelto", RoutingStatus.CLOSED: "Cerrado",
}
ROUTING_KIND_LABELS = {RoutingKind.TURN: "Turno", RoutingKind.COPY: "Copia para conocimiento"}


@dataclass(frozen=True)
class RoutingRow:
    routing: Routing
    deadline: Deadline
    status_label: str
    kind_label: str


@dataclass(frozen=True)
class FilingPanel:
    """What the filing page adds for the workflow."""

    deadline: Deadline
    routings: Sequence[RoutingRow] = ()
    actions: Sequence[Action] = ()
    departments: Sequence[Department] = ()
    people: Sequence[User] = ()
    holder: Routing | None = None
    thread: Sequence[messages.ThreadMessage] = ()
    field_updates: Sequence[fieldwork.UpdateView] = ()
    #: what was typed in the form that failed, to fill it again
    form: MultiDict[str, str] = field(default_factory=MultiDict)
    failed: str | None = None
    route_rows: int = 1
    can_message: bool = False

    def has(self, action: Action) -> bool:
        return action in self.actions


def _actions_for(filing: Filing, user: User, mine: Sequence[Routing]) -> list[Action]:
    possible: list[Action] = [a for a in allowed_actions(filing.status) if a is not Action.ANSWER]
    if user.role is Role.ADMIN:
        return possible
    if user.role is Role.CLERK:
        return [a for a in possible if a in MAIL_ROOM_ACTIONS]
    if user.role in DEPARTMENT_ROLES and filing.status is FilingState.ANSWERED:
        # answering closed every turn: a department that held one concludes the filing
        held = any(r.kind is RoutingKind.TURN and r.department_id == user.department_id
                   for r in routings_of(db.session, filing))
        return [Action.CONCLUDE] if held and Action.CONCLUDE in possible else []
    if user.role in DEPARTMENT_ROLES and mine:
        pending = mine[0].status is RoutingStatus.PENDING
        return [a for a in possible if a in HOLDER_ACTIONS
                and (pending or a not in (Action.ACCEPT, Action.REJECT))]
    return []


def _public_parts(filing: Filing) -> dict[str, Any]:
    """The thread with the filer and the field crews' updates: what filer and staff both see."""
    return {"thread": messages.thread(db.session, filing),
            "field_updates": fieldwork.field_updates(db.session, filing)}


def filing_panel(filing: Filing, user: User, *, form: MultiDict[str, str] | None = None,
                 failed: str | None = None) -> FilingPanel:
    """The routing history, deadline and the actions ``user`` may take on ``filing``."""
    clock = _Clock(db.session)
    paused = filing.paused_at is not None
    public = _public_parts(filing)
    if user.role is Role.CITIZEN:
        return FilingPanel(deadline=clock.deadline(filing.due_at, paused=paused),
                           can_message=not is_final(filing.status), **public)
    rows = [RoutingRow(routing=r, status_label=ROUTING_STATUS_LABELS[r.status], kind_label=ROUTING_KIND_LABELS[r.kind],
                       deadline=(clock.deadline(r.due_at, paused=paused) if r.active and r.kind is RoutingKind.TURN
                                 else Deadline(r.due_at, None)))
            for r in routings_of(db.session, filing)]
    mine = (active_routings(filing.id, db.session, user.department_id)
            if user.role in DEPARTMENT_ROLES and user.department_id else [])
    actions = _actions_for(filing, user, mine)
    holder = mine[0] if mine else None
    if holder is None and user.role is Role.ADMIN:
        holders = active_routings(filing.id, db.session)
        holder = holders[0] if holders else None
    people: Sequence[User] = ()
    can_message = user.role is Role.ADMIN or bool(mine)
    if holder is not None and Action.ASSIGN in actions:
        people = db.session.execute(
            select(User).where(User.department_id == holder.department_id, User.active.is_(True),
                               User.role.in_(DEPARTMENT_ROLES)).order_by(User.name)).scalars().all()
    departments = db.session.execute(
        select(Department).where(Department.active.is_(True)).order_by(Department.name)).scalars().all()
    form = form if form is not None else MultiDict()
    route_rows = max(1, len(form.getlist("route_department")) if failed == Action.ROUTE.value else 1)
    return FilingPanel(deadline=clock.deadline(filing.due_at, paused=paused), routings=rows, actions=actions,
                       departments=departments, people=people, holder=holder, form=form, failed=failed,
                       route_rows=route_rows, can_message=can_message and not is_final(filing.status), **public)


def _action_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The mapping :func:`workflows.routing.parse_action` reads, from the panel's forms."""
    data: dict[str, Any] = {"action": form.get("action", ""), "note": clean_text(form.get("note"), multiline=True),
                            "due_days": form.get("due_days", "").strip(), "user": form.get("user") or None}
    if data["action"] == Action.ROUTE.value:
        rows = zip(form.getlist("route_department"), form.getlist("route_note"), form.getlist("route_due_days"),
                   strict=False)
        data["routes"] = [{"department": d.strip(), "note": clean_text(n, multiline=True), "due_days": days.strip()}
                          for d, n, days in rows if d.strip() or n.strip() or days.strip()]
    else:
        data["department"] = [d.strip() for d in form.getlist("department") if d.strip()]
    return data


def _done_message(request_: ActionRequest, result: ActionResult) -> str:
    names = ", ".join(r.department.name for r in result.routings)
    action = request_.action
    if action is Action.ROUTE:
        return f"Escrito turnado a {names}."
    if action is Action.COPY:
        return f"Copia para conocimiento enviada a {names}."
    if action is Action.FORWARD:
        return f"Escrito reasignado a {names}. El área debe recibirlo."
    if action is Action.ASSIGN:
        person = db.session.execute(select(User.name).where(User.email == (request_.user or "").lower())).scalar()
        return f"Escrito asignado a {person or request_.user}."
    if action is Action.RESUME:
        due = result.filing.due_at
        when = due.astimezone(ZoneInfo(_tz())).strftime("%d/%m/%Y") if due else "por determinar"
        return f"Se reanudó la atención. Nueva fecha límite de respuesta: {when}."
    return {
        Action.ACCEPT: "Escrito recibido en su área; queda en atención.",
        Action.RETURN: "Escrito devuelto por no ser competencia del área.",
        Action.REQUEST_INFO: "Se solicitó información al solicitante. El plazo queda suspendido hasta que responda.",
        Action.REJECT: "El escrito quedó como no admitido.",
        Action.CONCLUDE: "Trámite concluido.",
    }.get(action, "Acción registrada.")


def _render_filing(filing: Filing, user: User, *, form: MultiDict[str, str] | None = None,
                   failed: str | None = None, message_body: str = "") -> str:
    """The filing page again, after a refused action or message, with what was typed."""
    entries: Sequence[LogbookEntry] = ()
    if user.role is not Role.CITIZEN:
        entries = db.session.execute(select(LogbookEntry).where(LogbookEntry.filing_id == filing.id)
                                     .order_by(LogbookEntry.seq)).scalars().all()
    return render_template("oficialia/filing.html", filing=filing, entries=entries,
                           view=tracking.public_view(db.session, filing),
                           panel=filing_panel(filing, user, form=form, failed=failed), message_body=message_body)


@bp.post("/expedientes/<folio>/acciones")
def act(folio: str) -> ResponseReturnValue:
    """Apply one workflow action from the filing page's panel."""
    user = require_user(*OFFICIAL_ROLES)
    filing = access.get_filing(db.session, user, folio)
    try:
        action_request = parse_action(_action_data(request.form))
        result = perform_action(db.session, filing, user, action_request, tz=_tz())
    except WorkflowError as e:
        db.session.rollback()
        flash(e.message, "danger")
        return _render_filing(filing, user, form=request.form, failed=request.form.get("action")), e.http_status
    flash(_done_message(action_request, result), "success")
    return redirect(url_for("oficialia.filing_detail", folio=filing.folio))


# --- the filer's side on the tracking page ------------------------------------------------------

@dataclass(frozen=True)
class TrackingExtras:
    thread: Sequence[messages.ThreadMessage]
    field_updates: Sequence[fieldwork.UpdateView]
    #: what the department asked the filer for, while the clock is stopped
    requested: str | None
    can_reply: bool


def _requested_info(filing: Filing) -> str | None:
    if filing.status is not FilingState.AWAITING_FILER:
        return None
    content = db.session.execute(
        select(LogbookEntry.content).where(LogbookEntry.filing_id == filing.id,
                                           LogbookEntry.event == "info_requested")
        .order_by(LogbookEntry.seq.desc()).limit(1)).scalar()
    note = json.loads(content).get("data", {}).get("note") if content else None
    return str(note) if note else None


@bp.app_template_global()
def tracking_extras(folio: str) -> TrackingExtras | None:
    """For the tracking page, once folio and code were checked: messages, field updates and what
    the department asked for."""
    filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one_or_none()
    if filing is None:
        return None
    public = _public_parts(filing)
    return TrackingExtras(requested=_requested_info(filing), can_reply=not is_final(filing.status), **public)


def _uploads() -> list[Upload]:
    return [Upload(filename=f.filename or "", data=f.read())
            for f in request.files.getlist("files") if f and (f.filename or "")]


def _post_message(filing: Filing, author: User | None, *, from_filer: bool) -> messages.PostedMessage:
    return messages.post_message(
        db.session, get_store(), filing, author=author, from_filer=from_filer, body=request.form.get("body", ""),
        uploads=_uploads(), settings=IntakeSettings.from_config(current_app.config), dispatcher=get_dispatcher())


def _sent_message(posted: messages.PostedMessage, filing: Filing) -> str:
    if posted.resumed:
        due = filing.due_at
        when = due.astimezone(ZoneInfo(_tz())).strftime("%d/%m/%Y") if due else "por determinar"
        return ("Su respuesta fue enviada y la atención de su trámite se reanudó. "
                f"Nueva fecha límite de respuesta: {when}.")
    if posted.resume_pending:
        return "Su respuesta fue enviada. El área reanudará la atención de su trámite."
    return "Mensaje enviado."


@bp.post("/seguimiento/<folio>/mensajes")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def reply(folio: str) -> ResponseReturnValue:
    """The filer writes to the department from the tracking page, holding folio and code."""
    code = clean_text(request.form.get("code"))
    filing = tracking.find_for_tracking(db.session, folio, code) if code else None
    if filing is None:
        raise NotFound("No se encontró un trámite con ese folio y código de seguimiento.")
    try:
        posted = _post_message(filing, None, from_filer=True)
    except (OficialiaError, WorkflowError) as e:
        db.session.rollback()
        flash(e.message, "danger")
        return render_template("oficialia/track.html", folio=filing.folio, code=code, error=None,
                               view=tracking.public_view(db.session, filing),
                               message_body=request.form.get("body", "")), e.http_status
    flash(_sent_message(posted, filing), "success")
    return redirect(url_for("oficialia.track", folio=filing.folio, code=code) + "#messages")


@bp.post("/expedientes/<folio>/mensajes")
def message(folio: str) -> ResponseReturnValue:
    """A message on the filing's thread: from the department holding it, or from the filer
    signed in."""
    user = require_user(Role.STAFF, Role.SIGNER, Role.ADMIN, Role.CITIZEN)
    filing = access.get_filing(db.session, user, folio)
    try:
        posted = _post_message(filing, user, from_filer=user.role is Role.CITIZEN)
    except (OficialiaError, WorkflowError) as e:
        db.session.rollback()
        flash(e.message, "danger")
        return _render_filing(filing, user, message_body=request.form.get("body", "")), e.http_status
    flash(_sent_message(posted, filing) if user.role is Role.CITIZEN else "Mensaje enviado al solicitante.",
          "success")
    return redirect(url_for("oficialia.filing_detail", folio=filing.folio) + "#messages")


# --- administration: the working-day calendar ---------------------------------------------------

class CalendarInvalid(WorkflowError):
    http_status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_input"
    default_message: ClassVar[str] = "Los datos del día inhábil no son válidos."


@dataclass(frozen=True)
class RestDay:
    day: date
    name: str
    official: bool
    #: the Holiday row behind it (municipal day, or an official one marked as worked)
    holiday: Holiday | None
    worked: bool


YEARS = range(2000, 2101)
WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def _parse_day(value: str | None) -> date:
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise CalendarInvalid("Escriba una fecha válida (día, mes y año).") from None
    if day.year not in YEARS:
        raise CalendarInvalid(f"El año debe estar entre {YEARS.start} y {YEARS.stop - 1}.")
    return day


def _log_calendar(session: DbSession, actor: User, data: dict[str, object]) -> None:
    append_entry(session, event="calendar_changed", actor_label=f"{actor.name} <{actor.email}>", actor_id=actor.id,
                 data=data)


def add_rest_day(session: DbSession, actor: User, day: date, name: str) -> Holiday:
    """Declare ``day`` a rest day of this administration; logged; commits.

    :raises CalendarInvalid: weekends, official rest days and days already declared.
    """
    name = clean_text(name)[:200]
    if not name:
        raise CalendarInvalid("Escriba el motivo del día inhábil (por ejemplo, «Fiesta patronal»).")
    if day.weekday() >= 5:
        raise CalendarInvalid(f"El {day:%d/%m/%Y} es {WEEKDAYS[day.weekday()]}: ya es inhábil.")
    if day in official_rest_days(day.year):
        raise CalendarInvalid(f"El {day:%d/%m/%Y} ya es día de descanso obligatorio.")
    if session.execute(select(Holiday.id).where(Holiday.day == day)).first() is not None:
        raise CalendarInvalid(f"El {day:%d/%m/%Y} ya está registrado.")
    holiday = Holiday(day=day, name=name, working=False)
    session.add(holiday)
    try:
        session.flush()
    except IntegrityError:  # registered at the same moment by someone else
        raise CalendarInvalid(f"El {day:%d/%m/%Y} ya está registrado.") from None
    _log_calendar(session, actor, {"op": "add_rest_day", "day": day.isoformat(), "name": name})
    session.commit()
    return holiday


def work_official_day(session: DbSession, actor: User, day: date) -> Holiday:
    """Mark the official rest day ``day`` as a working day here; logged; commits."""
    official = official_rest_days(day.year).get(day)
    if official is None:
        raise CalendarInvalid(f"El {day:%d/%m/%Y} no es un día de descanso obligatorio.")
    if session.execute(select(Holiday.id).where(Holiday.day == day)).first() is not None:
        raise CalendarInvalid(f"El {day:%d/%m/%Y} ya se labora.")
    holiday = Holiday(day=day, name=official, working=True)
    session.add(holiday)
    session.flush()
    _log_calendar(session, actor, {"op": "work_official_day", "day": day.isoformat(), "name": official})
    session.commit()
    return holiday


def remove_calendar_day(session: DbSession, actor: User, holiday_id: int) -> Holiday:
    """Remove a municipal rest day, or restore an official one that was being worked; logged;
    commits."""
    holiday = session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound("Ese día ya no está registrado.")
    op = "restore_official_day" if holiday.working else "remove_rest_day"
    session.delete(holiday)
    session.flush()
    _log_calendar(session, actor, {"op": op, "day": holiday.day.isoformat(), "name": holiday.name})
    session.commit()
    return holiday


def _rest_days(year: int) -> list[RestDay]:
    rows = {h.day: h for h in db.session.execute(
        select(Holiday).where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))).scalars()}
    days = [RestDay(day=d, name=n, official=True, holiday=rows.get(d), worked=d in rows and rows[d].working)
            for d, n in official_rest_days(year).items()]
    days += [RestDay(day=h.day, name=h.name, official=False, holiday=h, worked=False)
             for h in rows.values() if not h.working and h.day not in official_rest_days(year)]
    return sorted(days, key=lambda d: d.day)


@bp.route("/admin/dias-inhabiles", methods=["GET", "POST"])
def calendar() -> ResponseReturnValue:
    """The official rest days of a year plus the administration's own; add, remove, work."""
    user = require_user(Role.ADMIN)
    today = utcnow().astimezone(ZoneInfo(_tz())).date()
    year = request.values.get("anio", today.year, type=int) or today.year
    if year not in YEARS:
        year = today.year
    status = 200
    if request.method == "POST":
        f = request.form
        try:
            op = f.get("op")
            if op == "add":
                holiday = add_rest_day(db.session, user, _parse_day(f.get("day")), f.get("name", ""))
                flash(f"El {holiday.day:%d/%m/%Y} quedó registrado como día inhábil.", "success")
            elif op == "work":
                holiday = work_official_day(db.session, user, _parse_day(f.get("day")))
                flash(f"El {holiday.day:%d/%m/%Y} ({holiday.name}) se laborará.", "success")
            elif op == "remove":
                holiday = remove_calendar_day(db.session, user, f.get("holiday", 0, type=int) or 0)
                flash(f"El {holiday.day:%d/%m/%Y} vuelve a ser inhábil." if holiday.working
                      else f"El {holiday.day:%d/%m/%Y} ya no es día inhábil.", "success")
            else:
                raise CalendarInvalid("Operación desconocida.")
        except CalendarInvalid as e:
            db.session.rollback()
            flash(e.message, "danger")
            status = e.http_status
        else:
            return redirect(url_for("workflows.calendar", anio=holiday.day.year))
    return render_template("workflows/calendar.html", year=year, days=_rest_days(year), today=today,
                           weekdays=WEEKDAYS, form=request.form if status != 200 else {}), status


# --- audit: the logbook ---------------------------------------------------------------------------

EVENT_LABELS = tracking.EVENT_LABELS | {
    "viewed": "Consulta del expediente",
    "assigned": "Asignado a una persona",
    "copied": "Copia para conocimiento",
    "calendar_changed": "Cambio en el calendario de días inhábiles",
}
CHAIN_REASONS = {
    "missing entry": "falta un registro",
    "broken link to the previous entry": "el enlace con el registro anterior está roto",
    "sequence number altered": "el número de registro fue alterado",
    "content altered": "el contenido fue alterado",
    "entries missing at the end of the chain": "faltan registros al final de la cadena",
    "chain shorter than a checkpoint: entries removed": "la cadena es más corta que un punto de control: "
                                                        "se eliminaron registros",
    "entry differs from its checkpoint": "el registro no coincide con su punto de control",
}


@bp.get("/auditoria/bitacora")
def logbook() -> ResponseReturnValue:
    """Every logbook entry, newest first, by folio, event and person; and the chain check."""
    require_user(Role.AUDITOR, Role.ADMIN)
    folio = clean_text(request.args.get("folio")).upper()
    event = clean_text(request.args.get("evento"))
    person = clean_text(request.args.get("persona"))
    page = max(1, request.args.get("pagina", 1, type=int) or 1)
    conditions: list[ColumnElement[bool]] = []
    if folio:
        conditions.append(Filing.folio == folio)
    if event:
        conditions.append(LogbookEntry.event == event)
    if person:
        escaped = person.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(LogbookEntry.actor_label.ilike(f"%{escaped}%", escape="\\"))
    base = (select(LogbookEntry, Filing.folio, Department.name)
            .outerjoin(Filing, Filing.id == LogbookEntry.filing_id)
            .outerjoin(Department, Department.id == LogbookEntry.department_id).where(*conditions))
    total = db.session.execute(
        select(func.count(LogbookEntry.id)).outerjoin(Filing, Filing.id == LogbookEntry.filing_id)
        .where(*conditions)).scalar_one()
    rows = db.session.execute(base.order_by(LogbookEntry.seq.desc())
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    report = verify_chain(db.session) if request.args.get("verificar") == "1" else None
    reason = CHAIN_REASONS.get(report.reason or "", report.reason) if report else None
    filters = {"folio": folio, "evento": event, "persona": person}
    return render_template("workflows/logbook.html", rows=rows, total=total, page=page, page_size=PAGE_SIZE,
                           filters=filters, events=EVENT_LABELS, report=report, reason=reason)


OUTBOX_STATUS_LABELS = {"pending": "Pendiente", "sent": "Enviado", "failed": "Fallido"}


@bp.get("/admin/correos")
def outbox() -> ResponseReturnValue:
    """The outbox: every e-mail the product wrote, with its delivery state (newest first)."""
    require_user(Role.ADMIN, Role.AUDITOR, Role.CLERK)
    status = request.args.get("estado", "")
    page = max(1, request.args.get("pagina", 1, type=int) or 1)
    stmt = select(Notification, Filing.folio).outerjoin(Filing, Filing.id == Notification.filing_id)
    if status in OUTBOX_STATUS_LABELS:
        stmt = stmt.where(Notification.status == NotificationStatus(status))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(Notification.id.desc()).limit(PAGE_SIZE)
                              .offset((page - 1) * PAGE_SIZE)).all()
    return render_template("workflows/outbox.html", rows=rows, total=total, page=page, page_size=PAGE_SIZE,
                           status=status, labels=OUTBOX_STATUS_LABELS)
