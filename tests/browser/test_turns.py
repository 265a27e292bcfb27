"""A citizen books a slot and the turn screen calls it: booking online, the QR ticket, the staff's
«Llamar siguiente», and the waiting room's screen updating by itself (static JS polling)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from oficialia.db import db, utcnow
from oficialia.models import Role, User
from oficialia.turns import open_desk
from tests.browser.pages import collect_errors, sign_in
from workflows.models import Holiday
from workflows.routing import working_calendar

pytestmark = pytest.mark.browser

TZ = "America/Mexico_City"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # slots all day, every day, so the test can book and be called today at any hour
    return app_config | {"TURN_OPENS": "00:00", "TURN_CLOSES": "23:59", "TURN_SLOT_MINUTES": 5,
                         "TURN_WEEKDAYS": "0,1,2,3,4,5,6"}






def test_a_citizen_books_a_slot_and_the_turn_screen_calls_it(
        app: Flask, new_context: Callable[[], BrowserContext], make_user: Callable[..., User],
        tmp_path: Path) -> None:
    with app.app_context():
        today = utcnow().astimezone(ZoneInfo(TZ)).date()
        if working_calendar(db.session).holiday_name(today) and not db.session.execute(
                select(Holiday).where(Holiday.day == today)).first():
            db.session.add(Holiday(day=today, name="Se trabaja", working=True))
        open_desk(db.session, "OBRAS", 2)
        db.session.commit()
    staff = make_user(Role.STAFF, department="OBRAS", name="Jorge Ramírez")
    errors: list[str] = []

    # --- the waiting room's TV shows the screen before anyone is called ---
    tv = new_context().new_page()
    collect_errors(tv, errors)
    tv.goto("/turnos/pantalla")
    expect(tv.locator("#turn-screen")).to_contain_text("Sin llamados por ahora")

    # --- a citizen books today's first slot at Obras Públicas ---
    citizen = new_context().new_page()
    collect_errors(citizen, errors)
    citizen.goto("/")
    citizen.get_by_role("link", name="Citas").click()
    citizen.get_by_label("Área").select_option(label="Obras Públicas")
    citizen.get_by_label("Día").select_option(index=1)  # the first day offered: today
    citizen.get_by_role("button", name="Ver horarios").click()
    citizen.get_by_label("Horario").select_option(index=0)
    citizen.get_by_label("Nombre").fill("Ana Ruiz")
    citizen.get_by_label("Correo electrónico (opcional)").fill("ana@example.mx")
    citizen.get_by_role("button", name="Agendar cita").click()
    expect(citizen.locator("#turn-code")).to_have_text("C-OBRAS-001")
    expect(citizen.locator("#turn-status")).to_have_text("En espera")
    expect(citizen.get_by_role("img", name="Código QR de su turno")).to_be_visible()
    citizen.screenshot(path=tmp_path / "boleto.png", full_page=True)

    # --- staff call the next turn from their window ---
    window = new_context().new_page()
    collect_errors(window, errors)
    sign_in(window, staff)
    window.get_by_role("link", name="Turnos").click()
    expect(window.locator("#waiting-turns")).to_contain_text("C-OBRAS-001")
    window.get_by_label("Ventanilla").fill("Ventanilla 3")
    window.get_by_role("button", name="Llamar siguiente").click()
    expect(window.locator("#current-turn")).to_have_text("C-OBRAS-001")

    # --- the screen, never reloaded, shows the call ---
    row = tv.locator("#turn-screen tbody tr").first
    expect(row).to_contain_text("C-OBRAS-001")
    expect(row).to_contain_text("Ventanilla 3")
    tv.screenshot(path=tmp_path / "pantalla.png", full_page=True)
    citizen.reload()
    expect(citizen.locator("#turn-status")).to_have_text("Llamado")
    assert errors == []
