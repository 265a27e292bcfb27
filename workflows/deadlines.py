"""Watching deadlines: the traffic light of a due date and the sweep that warns and escalates.

:func:`sweep_deadlines` runs from ``flask --app app deadlines sweep`` and periodically in the
worker. For every active turn (routing) whose clock runs, it warns the assignee — or, with none,
the department's head — once the deadline is within ``warning_days`` working days, and when the
deadline has passed it escalates to the department's head and to the internal audit department
(``AUDIT_DEPARTMENT``), with a (non-public) logbook entry. Filings left in the mail-room past
their deadline (received, routed nowhere) are escalated to the clerks and the audit department.

Each turn is warned once and escalated once (``warned_at``, ``escalated_at``), so running the
sweep again, or on several workers at once, changes nothing; only a deadline that moved since
(the clock stopped and resumed) is watched anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from oficialia.db import DbSession
from oficialia.models import Department, Filing, Role, User

from .calendar import WorkingCalendar
from .logbook import append_entry
from .models import ACTIVE_ROUTING, LogbookEntry, Notification, Routing, RoutingKind
from .notifications import department_staff, notify_users, queue_delivery
from .routing import working_calendar
from .states import FilingState

TrafficLight = Literal["green", "yellow", "red", "overdue"]
SYSTEM_ACTOR = "Sistema: control de plazos"
#: filing states in which a turn's deadline is watched (the clock stops while awaiting the filer)
RUNNING_STATES = (FilingState.ROUTED, FilingState.IN_PROGRESS)
AUDIT_ROLES = (Role.STAFF, Role.SIGNER, Role.AUDITOR)


def traffic_light(due_at: datetime | None, now: datetime, calendar: WorkingCalendar, tz: str) -> TrafficLight | None:
    """The colour of a deadline, for inboxes and lists.

    ``green``: more than 3 working days left; ``yellow``: 2 or 3; ``red``: due today or on the
    next working day; ``overdue``: past; ``None`` without a deadline. Days are counted as
    :meth:`WorkingCalendar.working_days_between` does: the working days after today up to the
    due day. A filing whose clock is stopped keeps its colour; callers may grey it out.
    """
    if due_at is None:
        return None
    if now > due_at:
        return "overdue"
    left = calendar.working_days_between(now, due_at, tz)
    if left <= 1:
        return "red"
    if left <= 3:
        return "yellow"
    return "green"


@dataclass(frozen=True)
class SweepReport:
    warned: int
    escalated: int
    notifications: int


def _horizon(calendar: WorkingCalendar, now: datetime, warning_days: int, tz: str) -> datetime:
    """The end of the ``warning_days``-th working day after today (of today, for 0)."""
    if warning_days >= 1:
        return calendar.add_working_days(now, warning_days, tz)
    local = now.astimezone(ZoneInfo(tz))
    end = local.replace(hour=23, minute=59, second=59, microsecond=999999)
    return end.astimezone(now.tzinfo)


def _audit_people(session: DbSession, audit_department: str) -> tuple[list[User], str]:
    dept = session.execute(select(Department).where(Department.code == audit_department.strip().upper())
                           ).scalar_one_or_none()
    if dept is None:
        return [], "la contraloría interna"
    people = [dept.head] if dept.head is not None else []
    people += session.execute(select(User).where(User.department_id == dept.id, User.active.is_(True),
                                                 User.role.in_(AUDIT_ROLES)).order_by(User.id)).scalars()
    return people, dept.name


def _head_or_signers(session: DbSession, department: Department) -> list[User]:
    if department.head is not None and department.head.active:
        return [department.head]
    people = department_staff(session, department.id)
    signers = [p for p in people if p.role is Role.SIGNER]
    return signers or people


def _claim(session: DbSession, routing: Routing, column: str, previous: datetime | None, now: datetime) -> bool:
    """Set ``warned_at``/``escalated_at`` only if nobody did meanwhile (another worker's sweep)."""
    col = getattr(Routing, column)
    condition = col.is_(None) if previous is None else col == previous
    result = session.execute(update(Routing).where(Routing.id == routing.id, condition).values({column: now})
                             .execution_options(synchronize_session=False))
    return getattr(result, "rowcount", 0) == 1


def sweep_deadlines(session: DbSession, *, now: datetime, warning_days: int, tz: str,
                    audit_department: str = "CONTRA") -> SweepReport:
    """Warn before deadlines and escalate missed ones; commits, then queues the e-mails.

    :param now: the instant the sweep judges by (aware).
    :param warning_days: warn when the deadline is this many working days away or fewer.
    :param tz: the institution's time zone.
    :param audit_department: code of the internal audit department, told of every escalation.
    """
    calendar = working_calendar(session)
    horizon = _horizon(calendar, now, warning_days, tz)
    audit, audit_name = _audit_people(session, audit_department)
    written: list[Notification] = []
    warned = escalated = 0
    turns = session.execute(
        select(Routing, Filing).join(Filing, Filing.id == Routing.filing_id)
        .where(Routing.kind == RoutingKind.TURN, Routing.status.in_(ACTIVE_ROUTING), Routing.due_at.is_not(None),
               Routing.due_at <= horizon, Filing.status.in_(RUNNING_STATES), Filing.paused_at.is_(None))
        .order_by(Routing.due_at, Routing.id)).all()
    for routing, filing in turns:
        due = routing.due_at
        if due is None:  # filtered in the query
            continue
        common = {"department_name": routing.department.name, "due": due.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y"),
                  "assignee": routing.assigned_to.name if routing.assigned_to else None}
        if due < now:
            # escalated already, unless the deadline moved past that escalation since
            if routing.escalated_at is not None and routing.escalated_at >= due:
                continue
            if not _claim(session, routing, "escalated_at", routing.escalated_at, now):
                continue
            recipients = _head_or_signers(session, routing.department) + audit
            sent = notify_users(session, recipients, "overdue", filing, audit_name=audit_name, **common)
            append_entry(session, event="escalated", actor_label=SYSTEM_ACTOR, filing_id=filing.id,
                         filing_folio=filing.folio, department_id=routing.department_id, public=False, at=now,
                         data={"routing_id": routing.id, "due_at": due.isoformat(),
                               "notified": [n.to_email for n in sent]})
            written += sent
            escalated += 1
            continue
        # warned already, unless the deadline moved beyond the warning window since
        if routing.warned_at is not None \
                and due <= calendar.add_working_days(routing.warned_at, max(warning_days, 1), tz):
            continue
        if not _claim(session, routing, "warned_at", routing.warned_at, now):
            continue
        recipients = [routing.assigned_to] if routing.assigned_to is not None and routing.assigned_to.active \
            else _head_or_signers(session, routing.department)
        written += notify_users(session, recipients, "deadline_warning", filing,
                                days_left=calendar.working_days_between(now, due, tz), **common)
        warned += 1
    escalated_filings, sent = _escalate_mail_room(session, now, audit, audit_name, tz)
    written += sent
    ids = [n.id for n in written]
    session.commit()
    queue_delivery(session, ids)
    return SweepReport(warned=warned, escalated=escalated + escalated_filings, notifications=len(ids))


def _escalate_mail_room(session: DbSession, now: datetime, audit: list[User], audit_name: str,
                        tz: str) -> tuple[int, list[Notification]]:
    """Filings still in the mail-room (received, no active turn) past their deadline: once each,
    to the clerks and the audit department. Marked by their ``escalated`` logbook entry."""
    active_turn = aliased(Routing)
    done = aliased(LogbookEntry)
    rows = session.execute(select(Filing).where(
        Filing.status == FilingState.RECEIVED, Filing.due_at.is_not(None), Filing.due_at < now,
        ~exists().where(and_(active_turn.filing_id == Filing.id, active_turn.kind == RoutingKind.TURN,
                             active_turn.status.in_(ACTIVE_ROUTING))),
        ~exists().where(and_(done.filing_id == Filing.id, done.event == "escalated", done.department_id.is_(None),
                             done.at >= Filing.due_at)),
    ).order_by(Filing.due_at, Filing.id)).scalars().all()
    if not rows:
        return 0, []
    clerks = list(session.execute(select(User).where(User.role == Role.CLERK, User.active.is_(True))
                                  .order_by(User.id)).scalars())
    written: list[Notification] = []
    for filing in rows:
        due = filing.due_at
        if due is None:  # filtered in the query
            continue
        sent = notify_users(session, clerks + audit, "overdue", filing, audit_name=audit_name,
                            department_name="Oficialía de Partes (sin turnar)", assignee=None,
                            due=due.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y"))
        append_entry(session, event="escalated", actor_label=SYSTEM_ACTOR, filing_id=filing.id,
                     filing_folio=filing.folio, department_id=None, public=False, at=now,
                     data={"routing_id": None, "due_at": due.isoformat(), "notified": [n.to_email for n in sent]})
        written += sent
    return len(rows), written
