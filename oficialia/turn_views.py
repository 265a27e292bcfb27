"""Turns and appointments on the web: booking, the QR ticket, the staff's «call next», the public
turn screen (polled by static/turns-screen.js), and ``flask --app app turns …``."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.cli import AppGroup
from flask.typing import ResponseReturnValue
from flask_login import current_user
from pydantic import Field
from sqlalchemy import func, select

from workflows.routing import working_calendar

from .db import db, utcnow
from .errors import Conflict, InvalidInput, OficialiaError
from .extensions import limiter
from .models import Department, Role, User
from .openapi import Input, Output, endpoint, validated
from .receipts import qr_png
from .turns import (
    Turn,
    TurnSettings,
    TurnStatus,
    book,
    booking_days,
    call_next,
    cancel_appointment,
    close_turn,
    desk_for,
    email_booking,
    expire_no_shows,
    find_ticket,
    free_places,
    open_desk,
    open_desks,
    screen,
    send_reminders,
    take_ticket,
    turn_stats,
)

bp = Blueprint("turns", __name__)
api_bp = Blueprint("turns_api", __name__, url_prefix="/api/v1")
STAFF_ROLES = (Role.STAFF, Role.SIGNER, Role.CLERK, Role.ADMIN)


def _settings() -> TurnSettings:
    return TurnSettings.from_config(current_app.config)


@bp.route("/turnos/cita", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"], methods=["POST"])
def booking() -> ResponseReturnValue:
    """Book an appointment: choose department and day, then a slot, name and e-mail."""
    settings = _settings()
    calendar = working_calendar(db.session)
    now = utcnow()
    desks = open_desks(db.session)
    days = booking_days(calendar, settings, now)
    if request.method == "POST":
        try:
            issued = book(db.session, department=request.form.get("department", ""), day=request.form.get("day", ""),
                          slot=request.form.get("slot", ""), name=request.form.get("name"),
                          email=request.form.get("email"), calendar=calendar, settings=settings)
        except OficialiaError as e:
            flash(e.message, "danger")
            return redirect(url_for("turns.booking", area=request.form.get("department"),
                                    dia=request.form.get("day")))
        ticket_url = str(current_app.config["PUBLIC_URL"]).rstrip("/") + url_for(
            "turns.ticket", turn_id=issued.turn.id, secret=issued.secret)
        email_booking(db.session, issued.turn, ticket_url=ticket_url, settings=settings,
                      institution=str(current_app.config["INSTITUTION"]),
                      office=str(current_app.config["OFFICE_NAME"]))
        return redirect(url_for("turns.ticket", turn_id=issued.turn.id, secret=issued.secret))
    area = (request.args.get("area") or "").strip().upper()
    chosen_day = None
    places: dict[str, int] = {}
    if area and request.args.get("dia"):
        try:
            chosen_day = date.fromisoformat(request.args["dia"])
            desk = desk_for(db.session, area)
        except (ValueError, OficialiaError):
            flash("Elija un área y un día de la lista.", "danger")
            chosen_day = None
        else:
            places = free_places(db.session, desk, chosen_day, settings, now) if chosen_day in days else {}
    return render_template("turns/booking.html", desks=desks, days=days, area=area, chosen_day=chosen_day,
                           places=places)


def _qr_data_uri(url: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(url)).decode()


@bp.get("/turnos/boleto/<int:turn_id>/<secret>")
def ticket(turn_id: int, secret: str) -> ResponseReturnValue:
    """The ticket, with the QR code that opens this same page."""
    turn = find_ticket(db.session, turn_id, secret)
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    url = base + url_for("turns.ticket", turn_id=turn_id, secret=secret)
    ahead = 0
    if turn.status is TurnStatus.WAITING:
        ahead = db.session.execute(select(func.count(Turn.id)).where(
            Turn.department_id == turn.department_id, Turn.day == turn.day, Turn.status == TurnStatus.WAITING,
            Turn.number < turn.number)).scalar_one()
    cancellable = turn.status is TurnStatus.WAITING and turn.appointment_ahead(utcnow())
    return render_template("turns/ticket.html", turn=turn, qr=_qr_data_uri(url), ahead=ahead, secret=secret,
                           cancellable=cancellable)


@bp.post("/turnos/boleto/<int:turn_id>/<secret>/cancelar")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def cancel(turn_id: int, secret: str) -> ResponseReturnValue:
    """The holder of the ticket cancels the appointment; the place goes back to the slot."""
    try:
        cancel_appointment(db.session, turn_id, secret, settings=_settings())
    except Conflict as e:  # a wrong ticket stays a 404
        flash(e.message, "danger")
    else:
        flash("Su cita quedó cancelada; el horario queda libre para otra persona.", "success")
    return redirect(url_for("turns.ticket", turn_id=turn_id, secret=secret))


def _staff() -> User:
    if not current_user.is_authenticated:
        abort(401)
    if current_user.role not in STAFF_ROLES:
        abort(403)
    user: User = current_user._get_current_object()
    return user


@bp.get("/turnos/atender")
def attend() -> ResponseReturnValue:
    """The window's page: the turn being attended, who waits, «Llamar siguiente»."""
    user = _staff()
    settings = _settings()
    today = utcnow().astimezone(ZoneInfo(settings.tz)).date()
    current = db.session.execute(select(Turn).where(Turn.called_by_id == user.id,
                                                    Turn.status == TurnStatus.CALLED)).scalars().first()
    waiting = db.session.execute(select(Turn).where(
        Turn.department_id == user.department_id, Turn.day == today, Turn.status == TurnStatus.WAITING)
        .order_by(Turn.kind, Turn.slot_at, Turn.number)).scalars().all() if user.department_id else []
    departments = (db.session.execute(select(Department).where(Department.active.is_(True))
                                      .order_by(Department.name)).scalars().all() if user.role is Role.ADMIN else [])
    return render_template("turns/attend.html", current=current, waiting=waiting, desks=open_desks(db.session),
                           window=request.args.get("ventanilla", ""), departments=departments)


@bp.post("/turnos/areas")
def desks() -> ResponseReturnValue:
    """An admin opens a department for appointments, or changes its capacity per slot."""
    user = _staff()
    if user.role is not Role.ADMIN:
        abort(403)
    try:
        capacity = int(request.form.get("capacity") or "0")
    except ValueError:
        capacity = 0
    try:
        desk = open_desk(db.session, request.form.get("department", ""), capacity)
        db.session.commit()
    except OficialiaError as e:
        db.session.rollback()
        flash(e.message, "danger")
    else:
        flash(f"{desk.department.name} da citas: {desk.capacity} por horario.", "success")
    return redirect(url_for("turns.attend"))


@bp.post("/turnos/llamar")
def call() -> ResponseReturnValue:
    user = _staff()
    window = request.form.get("window", "")
    try:
        turn = call_next(db.session, user, window=window, settings=_settings())
    except OficialiaError as e:
        flash(e.message, "danger")
    else:
        if turn is None:
            flash("No hay turnos en espera.", "info")
        else:
            flash(f"Llamando a {turn.code} ({turn.name}) en {turn.window}.", "success")
    return redirect(url_for("turns.attend", ventanilla=window))


@bp.post("/turnos/<int:turn_id>/cerrar")
def close(turn_id: int) -> ResponseReturnValue:
    user = _staff()
    try:
        close_turn(db.session, user, turn_id, attended=request.form.get("outcome") == "attended")
    except OficialiaError as e:
        flash(e.message, "danger")
    return redirect(url_for("turns.attend", ventanilla=request.form.get("window", "")))


@bp.post("/turnos/ventanilla")
def walk_in() -> ResponseReturnValue:
    """A walk-in ticket, issued at the window."""
    _staff()
    try:
        issued = take_ticket(db.session, department=request.form.get("department", ""),
                             name=request.form.get("name"), settings=_settings())
    except OficialiaError as e:
        flash(e.message, "danger")
        return redirect(url_for("turns.attend"))
    return redirect(url_for("turns.ticket", turn_id=issued.turn.id, secret=issued.secret))


def _screen_rows(area: str | None) -> list[dict[str, Any]]:
    return [{"code": t.code, "window": t.window or "", "department": t.department.name,
             "current": t.status is TurnStatus.CALLED}
            for t in screen(db.session, _settings(), area)]


@bp.get("/turnos/pantalla")
def screen_page() -> ResponseReturnValue:
    """The turn screen for the waiting room's TV; static/turns-screen.js refreshes it."""
    area = request.args.get("area") or None
    return render_template("turns/screen.html", rows=_screen_rows(area), area=area or "")


@bp.get("/turnos/pantalla.json")
def screen_json() -> ResponseReturnValue:
    response = jsonify({"calls": _screen_rows(request.args.get("area") or None)})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _turn_globals() -> dict[str, Any]:
    return {"turn_figures": lambda filters: turn_stats(db.session, filters.start, filters.end)}


# --- API (no token: like the booking page) --------------------------------------------------------


class SlotsQuery(Input):
    department: str = Field(min_length=1, max_length=20, description="Clave del área.")
    day: str | None = Field(None, max_length=10, description="Día (AAAA-MM-DD); sin él, los días con citas.")


class SlotsOut(Output):
    """Días con citas del área, o los horarios de un día con sus lugares libres."""

    department: str
    days: list[str]
    slots: dict[str, int] = {}


class AppointmentIn(Input):
    department: str = Field(min_length=1, max_length=20)
    day: str = Field(min_length=10, max_length=10, description="AAAA-MM-DD")
    slot: str = Field(min_length=4, max_length=5, description="HH:MM, uno de los horarios libres")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254)


class AppointmentOut(Output):
    """La cita agendada; `ticket_url` (con el código QR) se muestra una vez."""

    code: str
    department: str
    slot_at: str
    status: str
    ticket_url: str


@api_bp.get("/turns/slots")
@endpoint("Horarios de citas (sin token)", auth=False, query=SlotsQuery, responses={200: SlotsOut}, tags=("citas",),
          description="Los días hábiles con citas del área y, con `day`, los horarios que quedan y sus lugares libres.")
def api_slots() -> ResponseReturnValue:
    query: SlotsQuery = validated()
    settings = _settings()
    now = utcnow()
    desk = desk_for(db.session, query.department)
    days = booking_days(working_calendar(db.session), settings, now)
    slots: dict[str, int] = {}
    if query.day:
        try:
            wanted = date.fromisoformat(query.day)
        except ValueError:
            raise InvalidInput("«day» debe ser una fecha AAAA-MM-DD.", field="day") from None
        if wanted in days:
            slots = {s: n for s, n in free_places(db.session, desk, wanted, settings, now).items() if n > 0}
    return jsonify({"department": desk.department.code, "days": [d.isoformat() for d in days], "slots": slots})


@api_bp.post("/turns/appointments")
@endpoint("Agendar una cita (sin token)", auth=False, json=AppointmentIn, responses={201: AppointmentOut},
          tags=("citas",), rate_limit=True,
          description="409 si el horario se llenó mientras tanto (de varias personas que compiten por el último "
                      "lugar, solo una lo obtiene).")
@limiter.limit(lambda: current_app.config["RATELIMIT_TRACK"])
def api_book() -> ResponseReturnValue:
    body: AppointmentIn = validated()
    settings = _settings()
    issued = book(db.session, department=body.department, day=body.day, slot=body.slot, name=body.name,
                  email=body.email, calendar=working_calendar(db.session), settings=settings)
    ticket_url = str(current_app.config["PUBLIC_URL"]).rstrip("/") + url_for(
        "turns.ticket", turn_id=issued.turn.id, secret=issued.secret)
    email_booking(db.session, issued.turn, ticket_url=ticket_url, settings=settings,
                  institution=str(current_app.config["INSTITUTION"]), office=str(current_app.config["OFFICE_NAME"]))
    turn = issued.turn
    return jsonify({"code": turn.code, "department": turn.department.code,
                    "slot_at": turn.slot_at.isoformat() if turn.slot_at else "", "status": turn.status.value,
                    "ticket_url": ticket_url}), 201


turns_cli = AppGroup("turns", help="Citas y turnos de ventanilla.")


@turns_cli.command("open")
@click.argument("department")
@click.option("--capacity", type=int, default=1, show_default=True, help="Citas por horario.")
def open_command(department: str, capacity: int) -> None:
    """Give a department appointments and walk-in turns."""
    try:
        desk = open_desk(db.session, department, capacity)
        db.session.commit()
    except OficialiaError as e:
        db.session.rollback()
        raise click.ClickException(e.message) from e
    click.echo(f"{desk.department.name}: {desk.capacity} cita(s) por horario.")


@turns_cli.command("sweep")
def sweep_command() -> None:
    """Mark the no-shows and write the reminders of the next 24 hours."""
    count, reminded = sweep_turns()
    click.echo(f"Turnos vencidos: {count}. Recordatorios: {reminded}.")


def sweep_turns() -> tuple[int, int]:
    """No-shows and reminders (the CLI and the worker's periodic maintenance); in the app context."""
    count = expire_no_shows(db.session, _settings())
    db.session.commit()
    reminded = send_reminders(db.session, _settings(), institution=str(current_app.config["INSTITUTION"]),
                              office=str(current_app.config["OFFICE_NAME"]))
    return count, reminded


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.cli.add_command(turns_cli)
