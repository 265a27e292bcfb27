"""Commands of the statistics: ``stats rebuild``, and the history behind ``demo --filings N``."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from workflows.routing import working_calendar

from . import stats
from .db import db, utcnow
from .demo_history import generate_history
from .stats_views import today_local

stats_cli = AppGroup("stats", help="Estadísticas: tablas agregadas.")


@stats_cli.command("rebuild")
def rebuild_command() -> None:
    """Recompute the statistics tables from the filings and their responses."""
    started = time.perf_counter()
    counted = stats.rebuild(db.session, tz=current_app.config["TIMEZONE"], calendar=working_calendar(db.session))
    click.echo(f"Estadísticas recalculadas: {counted} escritos en {time.perf_counter() - started:.1f} s.")


def make_history(filings: int, years: int) -> None:
    """Generate ``filings`` historical filings over ``years`` past years and report."""
    started = time.perf_counter()
    summary = generate_history(
        db.session, filings=filings, years=years, tz=current_app.config["TIMEZONE"],
        folio_format=current_app.config["FOLIO_FORMAT"], office=current_app.config["FOLIO_OFFICE"],
        calendar=working_calendar(db.session), today=today_local(), seed=int(utcnow().timestamp()))
    click.echo(f"Historial de demostración: {summary.filings} escritos del {summary.first_day:%d/%m/%Y} al "
               f"{summary.last_day:%d/%m/%Y} ({summary.answered} respondidos, {summary.open} vencidos sin respuesta, "
               f"{summary.evaluations} calificaciones) en {time.perf_counter() - started:.1f} s.")
