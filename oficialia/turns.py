"""Turns and appointments for the departments' windows.

* A department that attends in person has a :class:`TurnDesk` with the capacity of each
  appointment slot (``flask --app app turns open CODE --capacity N``). Slots run from
  ``TURN_OPENS`` to ``TURN_CLOSES`` every ``TURN_SLOT_MINUTES`` on working days (the workflows
  calendar), up to ``TURN_BOOKING_DAYS`` working days ahead.
* **Booking is race-free.** A slot's count lives in one row of ``turn_counters`` and is taken
  with ``UPDATE … SET value = value + 1 WHERE value < capacity RETURNING value`` inside the
  booking's transaction: of two citizens racing for the last place exactly one updates the row;
  the other's update matches nothing and is told the slot is full. The day's ticket numbers come
  from the same table (slot ``*``), like folios.
* Walk-ins take a ticket at the window; staff **call the next** turn (appointments whose time has
  come first, then tickets in order; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so two windows never
  call the same person); the public **turn screen** shows the latest calls.
* **No-shows expire**: an appointment not called ``TURN_NO_SHOW_MINUTES`` after its slot, and a
  called turn not attended in that time, become *no se presentó* (each call of the next turn and
  ``flask --app app turns sweep`` apply it).
* Waiting time (ticket or slot → call) and outcomes per department go to :func:`turn_stats`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.calendar import WorkingCalendar

from .db import DbSession, UTCDateTime, db, str_enum, utcnow
from .errors import Conflict, InvalidInput, NotFound
from .forms import clean_text
from .models import Department, User

WALK_IN_SLOT = "*"


class TurnKind(StrEnum):
    APPOINTMENT = "cita"
    WALK_IN = "turno"


class TurnStatus(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


STATUS_LABELS = {TurnStatus.WAITING: "En espera", TurnStatus.CALLED: "Llamado", TurnStatus.ATTENDED: "Atendido",
                 TurnStatus.NO_SHOW: "No se presentó", TurnStatus.CANCELLED: "Cancelado"}


class TurnDesk(db.Model):  # type: ignore[name-defined,misc]
    """A department that attends in person: how many appointments fit in each slot."""

    __tablename__ = "turn_desks"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True, autoincrement=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    department: Mapped[Department] = relationship()


class TurnCounter(db.Model):  # type: ignore[name-defined,misc]
    """Places taken in one slot (``HH:MM``), or the day's last ticket number (slot ``*``)."""

    __tablename__ = "turn_counters"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    slot: Mapped[str] = mapped_column(String(5), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Turn(db.Model):  # type: ignore[name-defined,misc]
    """An appointment or a walk-in ticket."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("department_id", "day", "number", name="uq_turns_department_day_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False, index=True)
    kind: Mapped[TurnKind] = mapped_column(str_enum(TurnKind, 10), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    #: the appointment's slot (aware, UTC); None for walk-ins
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[TurnStatus] = mapped_column(str_enum(TurnStatus, 12), nullable=False,
                                               default=TurnStatus.WAITING, index=True)
    #: SHA-256 of the ticket's secret (the QR opens the ticket page with it)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    called_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    window: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when the reminder e-mail was written (once)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department] = relationship()

    @property
    def code(self) -> str:
        prefix = "C" if self.kind is TurnKind.APPOINTMENT else "T"
        return f"{prefix}-{self.department.code}-{self.number:03d}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    def appointment_ahead(self, now: datetime) -> bool:
        """Whether this is an appointment whose time has not come: the citizen may still cancel it."""
        return self.kind is TurnKind.APPOINTMENT and self.slot_at is not None and self.slot_at > now

    @property
    def waited_from(self) -> datetime:
        """When the wait began: the appointment's time, or when the ticket was taken."""
        if self.slot_at is not None and self.slot_at > self.created_at:
            return self.slot_at
        return self.created_at


@dataclass(frozen=True)
class TurnSettings:
    tz: str
    opens: time
    closes: time
    slot_minutes: int
    booking_days: int
    no_show_minutes: int
    #: days of the week the windows attend (0 = Monday); rest days of the calendar always close them
    weekdays: frozenset[int] = frozenset(range(5))

    @classmethod
    def from_config(cls, cfg: dict[str, object]) -> TurnSettings:
        return cls(tz=str(cfg["TIMEZONE"]), opens=time.fromisoformat(str(cfg["TURN_OPENS"])),
                   closes=time.fromisoformat(str(cfg["TURN_CLOSES"])),
                   slot_minutes=int(str(cfg["TURN_SLOT_MINUTES"])), booking_days=int(str(cfg["TURN_BOOKING_DAYS"])),
                   no_show_minutes=int(str(cfg["TURN_NO_SHOW_MINUTES"])),
                   weekdays=frozenset(int(d) for d in str(cfg["TURN_WEEKDAYS"]).replace(" ", "").split(",") if d))


@dataclass(frozen=True)
class Issued:
    turn: Turn
    #: opens the ticket page (QR); shown once
    secret: str


def hash_secret(turn_id: int, secret: str) -> str:
    return hashlib.sha256(f"{turn_id}:{secret}".encode()).hexdigest()


def desk_for(session: DbSession, code: str) -> TurnDesk:
    desk = session.execute(select(TurnDesk).join(Department).where(
        Department.code == (code or "").strip().upper(), TurnDesk.active.is_(True))).scalar_one_or_none()
    if desk is None:
        raise InvalidInput("Esa área no da citas ni turnos en ventanilla.", field="department")
    return desk


def open_desks(session: DbSession) -> list[TurnDesk]:
    return list(session.execute(select(TurnDesk).join(Department).where(TurnDesk.active.is_(True))
                                .order_by(Department.name)).scalars())


def slots_of_day(settings: TurnSettings, day: date) -> list[str]:
    out: list[str] = []
    moment = datetime.combine(day, settings.opens)
    end = datetime.combine(day, settings.closes)
    while moment + timedelta(minutes=settings.slot_minutes) <= end:
        out.append(moment.strftime("%H:%M"))
        moment += timedelta(minutes=settings.slot_minutes)
    return out


def booking_days(calendar: WorkingCalendar, settings: TurnSettings, now: datetime) -> list[date]:
    """The days on which an appointment can be booked, from today: ``booking_days`` of them, on the
    attention weekdays (Monday to Friday by default) that are not rest days of the calendar."""
    day = now.astimezone(ZoneInfo(settings.tz)).date()
    out: list[date] = []
    while len(out) < settings.booking_days and settings.weekdays:
        if day.weekday() in settings.weekdays and calendar.holiday_name(day) is None:
            out.append(day)
        day += timedelta(days=1)
    return out


def free_places(session: DbSession, desk: TurnDesk, day: date, settings: TurnSettings,
                now: datetime) -> dict[str, int]:
    """Slot → places left, for the slots still ahead of ``now``."""
    taken = dict(session.execute(select(TurnCounter.slot, TurnCounter.value).where(
        TurnCounter.department_id == desk.department_id, TurnCounter.day == day)).all())
    tz = ZoneInfo(settings.tz)
    return {s: desk.capacity - int(taken.get(s, 0)) for s in slots_of_day(settings, day)
            if datetime.combine(day, time.fromisoformat(s), tz) > now}


def _take(session: DbSession, department_id: int, day: date, slot: str, limit: int | None) -> int | None:
    """Increment the counter of (department, day, slot) unless it reached ``limit``; the new value or None."""
    stmt = (update(TurnCounter).where(TurnCounter.department_id == department_id, TurnCounter.day == day,
                                      TurnCounter.slot == slot)
            .values(value=TurnCounter.value + 1).returning(TurnCounter.value))
    if limit is not None:
        stmt = stmt.where(TurnCounter.value < limit)
    value = session.execute(stmt).scalar_one_or_none()
    if value is not None:
        return int(value)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # first place of the slot (or ticket of the day): create the row (a concurrent creator may win), then take it
    session.execute(insert(TurnCounter).values(department_id=department_id, day=day, slot=slot, value=0)
                    .on_conflict_do_nothing())
    again = session.execute(stmt).scalar_one_or_none()
    return int(again) if again is not None else None


def _issue(session: DbSession, desk: TurnDesk, *, kind: TurnKind, day: date, slot_at: datetime | None,
           name: str, email: str | None) -> Issued:
    number = _take(session, desk.department_id, day, WALK_IN_SLOT, None)
    if number is None:  # pragma: no cover - an unlimited counter always moves
        raise RuntimeError("ticket counter did not move")
    secret = secrets.token_urlsafe(16)
    turn = Turn(department_id=desk.department_id, kind=kind, day=day, number=number, slot_at=slot_at, name=name,
                email=email, status=TurnStatus.WAITING, secret_hash="", created_at=utcnow())
    turn.department = desk.department
    session.add(turn)
    session.flush()
    turn.secret_hash = hash_secret(turn.id, secret)
    return Issued(turn=turn, secret=secret)


def _name(raw: str | None) -> str:
    name = clean_text(raw)
    if not name:
        raise InvalidInput("Escriba su nombre.", field="name")
    return name[:200]


def book(session: DbSession, *, department: str, day: str, slot: str, name: str | None, email: str | None,
         calendar: WorkingCalendar, settings: TurnSettings) -> Issued:
    """Book an appointment and commit.

    :raises InvalidInput: unknown department, a day or slot that is not offered, no name.
    :raises Conflict: the slot is full (someone took the last place).
    """
    desk = desk_for(session, department)
    person = _name(name)
    mail = clean_text(email) or None
    if mail and ("@" not in mail or len(mail) > 254):
        raise InvalidInput("Escriba un correo electrónico válido o déjelo vacío.", field="email")
    try:
        wanted = date.fromisoformat((day or "").strip())
    except ValueError:
        raise InvalidInput("Elija un día de la lista.", field="day") from None
    now = utcnow()
    if wanted not in booking_days(calendar, settings, now):
        raise InvalidInput("Ese día no hay citas: elija un día hábil de la lista.", field="day")
    slot = (slot or "").strip()
    if slot not in free_places(session, desk, wanted, settings, now):
        raise InvalidInput("Elija un horario de la lista.", field="slot")
    try:
        if _take(session, desk.department_id, wanted, slot, desk.capacity) is None:
            raise Conflict("Ese horario ya se llenó; elija otro.")
        slot_at = datetime.combine(wanted, time.fromisoformat(slot), ZoneInfo(settings.tz))
        issued = _issue(session, desk, kind=TurnKind.APPOINTMENT, day=wanted, slot_at=slot_at, name=person,
                        email=mail)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return issued


def take_ticket(session: DbSession, *, department: str, name: str | None, settings: TurnSettings) -> Issued:
    """A walk-in ticket for today (the window's clerk, or the kiosk); commit."""
    desk = desk_for(session, department)
    person = clean_text(name)[:200] or "Sin nombre"
    today = utcnow().astimezone(ZoneInfo(settings.tz)).date()
    try:
        issued = _issue(session, desk, kind=TurnKind.WALK_IN, day=today, slot_at=None, name=person, email=None)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return issued


def expire_no_shows(session: DbSession, settings: TurnSettings, now: datetime | None = None) -> int:
    """Mark no-shows (flushes only): appointments not called, and calls not attended, past the grace time."""
    now = now or utcnow()
    limit = now - timedelta(minutes=settings.no_show_minutes)
    today = now.astimezone(ZoneInfo(settings.tz)).date()
    stale = list(session.execute(select(Turn).where(
        ((Turn.status == TurnStatus.WAITING) & (Turn.kind == TurnKind.APPOINTMENT) & (Turn.slot_at < limit))
        | ((Turn.status == TurnStatus.CALLED) & (Turn.called_at < limit))
        | ((Turn.status == TurnStatus.WAITING) & (Turn.day < today)))).scalars())
    for turn in stale:
        turn.status, turn.closed_at = TurnStatus.NO_SHOW, now
    session.flush()
    return len(stale)


def call_next(session: DbSession, staff: User, *, window: str, settings: TurnSettings) -> Turn | None:
    """Close the caller's current turn as attended and call the next one of their department; commit."""
    if staff.department_id is None:
        raise InvalidInput("Su cuenta no pertenece a un área.")
    now = utcnow()
    today = now.astimezone(ZoneInfo(settings.tz)).date()
    label = clean_text(window)[:40] or "Ventanilla"
    try:
        expire_no_shows(session, settings, now)
        for current in session.execute(select(Turn).where(Turn.called_by_id == staff.id,
                                                          Turn.status == TurnStatus.CALLED)).scalars():
            current.status, current.closed_at = TurnStatus.ATTENDED, now
        stmt = select(Turn).where(Turn.department_id == staff.department_id, Turn.day == today,
                                  Turn.status == TurnStatus.WAITING,
                                  (Turn.kind == TurnKind.WALK_IN) | (Turn.slot_at <= now + timedelta(minutes=15)))
        stmt = stmt.order_by(Turn.kind, Turn.slot_at, Turn.number).limit(1)  # «cita» before «turno»
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        turn = session.execute(stmt).scalar_one_or_none()
        if turn is not None:
            turn.status, turn.called_at, turn.called_by_id, turn.window = TurnStatus.CALLED, now, staff.id, label
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return turn


def close_turn(session: DbSession, staff: User, turn_id: int, *, attended: bool) -> Turn:
    turn = session.get(Turn, turn_id)
    if turn is None or turn.department_id != staff.department_id:
        raise NotFound("No existe ese turno en su área.")
    if turn.status is not TurnStatus.CALLED:
        raise Conflict("Ese turno no está llamado.")
    turn.status, turn.closed_at = (TurnStatus.ATTENDED if attended else TurnStatus.NO_SHOW), utcnow()
    session.commit()
    return turn


def find_ticket(session: DbSession, turn_id: int, secret: str) -> Turn:
    turn = session.get(Turn, turn_id)
    if turn is None or not hmac.compare_digest(turn.secret_hash, hash_secret(turn_id, secret or "")):
        raise NotFound("No encontramos ese turno.")
    return turn


def cancel_appointment(session: DbSession, turn_id: int, secret: str, *, settings: TurnSettings) -> Turn:
    """The citizen cancels their appointment, with the ticket's secret, before its time; the place
    goes back to its slot for someone else. Commits.

    :raises NotFound: no such ticket, or the wrong secret.
    :raises Conflict: not an appointment still waiting, or its time has come.
    """
    turn = find_ticket(session, turn_id, secret)
    now = utcnow()
    slot_at = turn.slot_at
    if slot_at is None or not turn.appointment_ahead(now):
        raise Conflict("Esta cita ya no puede cancelarse: su hora ya llegó o no es una cita.")
    turns = Turn.__table__
    try:
        # only one of two racing cancellations (or a cancellation and a call) moves the turn
        moved = session.execute(update(turns).where(turns.c.id == turn.id, turns.c.status == TurnStatus.WAITING)
                                .values(status=TurnStatus.CANCELLED, closed_at=now).returning(turns.c.id)).first()
        if moved is None:
            raise Conflict("Esta cita ya no puede cancelarse: ya fue cancelada o atendida.")
        slot = slot_at.astimezone(ZoneInfo(settings.tz)).strftime("%H:%M")
        session.execute(update(TurnCounter).where(
            TurnCounter.department_id == turn.department_id, TurnCounter.day == turn.day, TurnCounter.slot == slot,
            TurnCounter.value > 0).values(value=TurnCounter.value - 1))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return turn  # expired by the commit: read afresh when used


def screen(session: DbSession, settings: TurnSettings, department: str | None = None,
           limit: int = 8) -> list[Turn]:
    """The latest calls of today, newest first (the turn screen)."""
    today = utcnow().astimezone(ZoneInfo(settings.tz)).date()
    stmt = select(Turn).where(Turn.day == today, Turn.called_at.is_not(None),
                              Turn.status.in_((TurnStatus.CALLED, TurnStatus.ATTENDED)))
    if department:
        stmt = stmt.join(Department, Department.id == Turn.department_id).where(
            Department.code == department.strip().upper())
    return list(session.execute(stmt.order_by(Turn.called_at.desc(), Turn.id.desc()).limit(limit)).scalars())


@dataclass(frozen=True)
class TurnStatsRow:
    department: str
    turns: int
    attended: int
    no_show: int
    waiting: int
    avg_wait_minutes: float | None

    def as_dict(self) -> dict[str, object]:
        return {"department": self.department, "turns": self.turns, "attended": self.attended,
                "no_show": self.no_show, "waiting": self.waiting, "avg_wait_minutes": self.avg_wait_minutes}


def turn_stats(session: DbSession, start: date | None = None, end: date | None = None) -> list[TurnStatsRow]:
    """Turns per department: attended, no-shows, still waiting and the mean wait until called."""
    stmt = select(Turn)
    if start:
        stmt = stmt.where(Turn.day >= start)
    if end:
        stmt = stmt.where(Turn.day <= end)
    acc: dict[str, list[Turn]] = {}
    for turn in session.execute(stmt).scalars():
        acc.setdefault(turn.department.name, []).append(turn)
    rows = []
    for name, turns in sorted(acc.items()):
        waits = [(t.called_at - t.waited_from).total_seconds() / 60 for t in turns if t.called_at is not None]
        rows.append(TurnStatsRow(
            department=name, turns=len(turns), attended=sum(t.status is TurnStatus.ATTENDED for t in turns),
            no_show=sum(t.status is TurnStatus.NO_SHOW for t in turns),
            waiting=sum(t.status is TurnStatus.WAITING for t in turns),
            avg_wait_minutes=round(sum(max(w, 0.0) for w in waits) / len(waits), 1) if waits else None))
    return rows


def open_desk(session: DbSession, code: str, capacity: int) -> TurnDesk:
    """Open (or change) the department's appointments; flushes only."""
    if not 1 <= capacity <= 100:
        raise InvalidInput("La capacidad por horario debe estar entre 1 y 100.")
    dept = session.execute(select(Department).where(Department.code == code.strip().upper())).scalar_one_or_none()
    if dept is None:
        raise InvalidInput(f"No existe el área «{code}».")
    desk = session.get(TurnDesk, dept.id)
    if desk is None:
        desk = TurnDesk(department_id=dept.id, capacity=capacity, active=True)
        session.add(desk)
    desk.capacity, desk.active = capacity, True
    session.flush()
    return desk


# --- e-mail -------------------------------------------------------------------------------------


def _mail_context(turn: Turn, settings: TurnSettings, institution: str, office: str) -> dict[str, object]:
    when = turn.slot_at.astimezone(ZoneInfo(settings.tz)).strftime("%d/%m/%Y a las %H:%M") if turn.slot_at else ""
    return {"code": turn.code, "name": turn.name, "department": turn.department.name, "when": when,
            "grace": settings.no_show_minutes, "institution": institution, "office": office}


def email_booking(session: DbSession, turn: Turn, *, ticket_url: str, settings: TurnSettings, institution: str,
                  office: str) -> list[int]:
    """The booking's confirmation with the ticket's link, after the booking committed; never raises."""
    from workflows.notifications import notify, notify_after_commit

    return notify_after_commit(session, f"cita {turn.code}", lambda: [n for n in [notify(
        session, kind="appointment_booked", to_email=turn.email,
        context=_mail_context(turn, settings, institution, office) | {"ticket_url": ticket_url})] if n])


def send_reminders(session: DbSession, settings: TurnSettings, *, institution: str, office: str,
                   now: datetime | None = None) -> int:
    """Write a reminder for every appointment of the next 24 hours not reminded yet; commit."""
    from workflows.notifications import notify, queue_delivery

    now = now or utcnow()
    due = list(session.execute(select(Turn).where(
        Turn.kind == TurnKind.APPOINTMENT, Turn.status == TurnStatus.WAITING, Turn.reminded_at.is_(None),
        Turn.email.is_not(None), Turn.slot_at > now, Turn.slot_at <= now + timedelta(hours=24))).scalars())
    ids = []
    for turn in due:
        note = notify(session, kind="appointment_reminder", to_email=turn.email,
                      context=_mail_context(turn, settings, institution, office))
        turn.reminded_at = now
        if note is not None:
            ids.append(note.id)
    session.commit()
    queue_delivery(session, ids)
    return len(due)

