"""A filing's whole walk in a real browser: the window, two departments (forward), a request for
information answered by the citizen with the tracking code, and the conclusion. Spanish UI,
selected by label, role and id; every person in their own browser context."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from oficialia.db import db, utcnow
from oficialia.models import Filing, Role, User
from tests.browser.pages import collect_errors, sign_in
from tests.browser.test_portal import _confirmation, _write
from tests.factories import pdf_bytes
from workflows.calendar import WorkingCalendar
from workflows.models import LogbookEntry
from workflows.routing import working_calendar

pytestmark = pytest.mark.browser

TZ = "America/Mexico_City"
REQUEST = "Anexe la licencia de construcción o el número de expediente de la obra."




def _flash(page: Page) -> object:
    return expect(page.locator(".alert[role=alert]").first)


def _open_from_inbox(page: Page, folio: str) -> None:
    page.get_by_role("link", name="Bandeja del área").click()
    expect(page.get_by_role("heading", name="Bandeja del área")).to_be_visible()
    page.locator(f'tr[data-folio="{folio}"]').get_by_role("link", name=folio).click()
    expect(page.locator("h1 .folio")).to_have_text(folio)


def _two_working_days_ago(now: datetime, calendar: WorkingCalendar) -> datetime:
    """The same local hour on the latest day from which two working days have run until today."""
    local = now.astimezone(ZoneInfo(TZ))
    day = local
    while calendar.working_days_between(day, local, TZ) < 2:
        day -= timedelta(days=1)
    return day.astimezone(now.tzinfo)


def test_filing_walks_through_two_departments_and_the_pause_moves_the_deadline(
        page: Page, new_context: Callable[[], BrowserContext], make_user: Callable[..., User], app: Flask,
        tmp_path: Path) -> None:
    """GIVEN a clerk, staff of Obras Públicas and of Desarrollo Urbano
    WHEN a paper filing is registered at the window and routed to Obras, Obras accepts and
    forwards it to Desarrollo Urbano, which accepts, assigns and asks the filer for information,
    the citizen answers on «Seguimiento» with the tracking code, and Desarrollo Urbano concludes
    THEN the citizen's timeline lists both departments and the deadline moved by exactly the
    working days the clock was stopped."""
    errors: list[str] = []
    clerk = make_user(Role.CLERK, department="OP", name="Laura Méndez")
    obras = make_user(Role.STAFF, department="OBRAS", name="Jorge Ramírez", email="jorge@obras.mx")
    urbano = make_user(Role.STAFF, department="DU", name="Patricia Núñez", email="paty@urbano.mx")

    # --- the window: register the paper filing, then route it to Obras Públicas ---
    collect_errors(page, errors)
    sign_in(page, clerk)
    page.get_by_label("Nombre o razón social de quien presenta").fill("Colonos de la calle Encino")
    page.get_by_label("Asunto").fill("Construcción sin licencia que invade la banqueta en la calle Encino")
    page.get_by_label("Documentos").set_input_files(_write(tmp_path, "escrito.pdf", pdf_bytes(2)))
    page.get_by_role("button", name="Registrar y emitir acuse").click()
    folio, code = _confirmation(page)

    page.goto(f"/expedientes/{folio}")
    route = page.locator('form[data-action="route"]')
    expect(route).to_be_visible()  # open at once: routing is what a received filing needs
    route.get_by_role("button", name="Agregar otra área").click()  # static/workflows.js
    expect(route.locator(".route-row")).to_have_count(2)  # left empty: ignored
    route.get_by_label("Área", exact=True).first.select_option(label="Obras Públicas")
    route.get_by_label("Instrucción").first.fill("Verificar la obra y responder a los colonos")
    route.get_by_label("Plazo (días hábiles)").first.fill("10")
    route.get_by_role("button", name="Turnar escrito").click()
    _flash(page).to_have_text("Escrito turnado a Obras Públicas.")
    expect(page.locator("#filing-status")).to_have_text("Turnado")

    # --- Obras Públicas: inbox, accept, forward to Desarrollo Urbano ---
    obras_page = new_context().new_page()
    collect_errors(obras_page, errors)
    sign_in(obras_page, obras)
    obras_page.get_by_role("link", name="Bandeja del área").click()
    row = obras_page.locator(f'tr[data-folio="{folio}"]')
    expect(row).to_contain_text("Por recibir")
    expect(row.locator(".light")).to_have_text("En tiempo")
    expect(row).to_contain_text("Verificar la obra y responder a los colonos")
    obras_page.screenshot(path=tmp_path / "bandeja-del-area.png", full_page=True)
    _open_from_inbox(obras_page, folio)
    obras_page.get_by_role("button", name="Recibir en el área").click()
    _flash(obras_page).to_contain_text("Escrito recibido en su área")
    obras_page.get_by_text("Reasignar a otra área").click()
    forward = obras_page.locator('form[data-action="forward"]')
    forward.get_by_label("Área que lo atenderá").select_option(label="Desarrollo Urbano")
    forward.get_by_label("Instrucción").fill("Compete a licencias de construcción")
    forward.get_by_role("button", name="Reasignar").click()
    _flash(obras_page).to_have_text("Escrito reasignado a Desarrollo Urbano. El área debe recibirlo.")

    # --- Desarrollo Urbano: accept, assign, ask the filer for information ---
    urbano_page = new_context().new_page()
    collect_errors(urbano_page, errors)
    sign_in(urbano_page, urbano)
    _open_from_inbox(urbano_page, folio)
    urbano_page.get_by_role("button", name="Recibir en el área").click()
    _flash(urbano_page).to_contain_text("Escrito recibido en su área")
    urbano_page.get_by_text("Asignar a una persona").click()
    urbano_page.get_by_label("Persona del área").select_option(label="Patricia Núñez")
    urbano_page.get_by_role("button", name="Asignar", exact=True).click()
    _flash(urbano_page).to_have_text("Escrito asignado a Patricia Núñez.")
    urbano_page.screenshot(path=tmp_path / "expediente.png", full_page=True)
    urbano_page.get_by_text("Solicitar información al solicitante").click()
    urbano_page.get_by_label("Información que debe aportar").fill(REQUEST)
    urbano_page.get_by_role("button", name="Solicitar información").click()
    _flash(urbano_page).to_contain_text("El plazo queda suspendido")
    expect(urbano_page.locator("#filing-status")).to_have_text("En espera de información del solicitante")

    # The clock has to stay stopped for whole working days, and a test cannot wait for them: the
    # pause is moved back to two working days ago, as if the request had been made then. Only
    # ``paused_at`` drives the shift on resumption, so this is the one value to change.
    with app.app_context():
        filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one()
        calendar = working_calendar(db.session)
        filing.paused_at = _two_working_days_ago(utcnow(), calendar)
        paused_at, due_before = filing.paused_at, filing.due_at
        db.session.commit()
    assert due_before is not None

    # --- the citizen answers on «Seguimiento» with folio and code: the clock runs again ---
    citizen = new_context().new_page()
    collect_errors(citizen, errors)
    citizen.goto("/seguimiento")
    citizen.get_by_label("Folio", exact=True).fill(folio)
    citizen.get_by_label("Código de seguimiento").fill(code)
    citizen.get_by_role("button", name="Consultar").click()
    expect(citizen.locator("#requested-info")).to_contain_text(REQUEST)
    citizen.get_by_label("Responder o escribir al área").fill("Es el expediente DU-LC-2026-118; anexo la licencia.")
    citizen.get_by_label("Adjuntos").set_input_files(_write(tmp_path, "licencia.pdf", pdf_bytes()))
    citizen.get_by_role("button", name="Enviar mensaje").click()
    _flash(citizen).to_contain_text("la atención de su trámite se reanudó")
    expect(citizen.locator("#track-status")).to_have_text("En atención")
    expect(citizen.locator("#messages")).to_contain_text("licencia.pdf")

    with app.app_context():
        filing = db.session.execute(select(Filing).where(Filing.folio == folio)).scalar_one()
        resumed_at = db.session.execute(select(LogbookEntry.at).where(
            LogbookEntry.filing_id == filing.id, LogbookEntry.event == "resumed")).scalar_one()
        calendar = working_calendar(db.session)
        expected = calendar.shift_for_pause(due_before, paused_at, resumed_at, TZ)
        assert filing.due_at == expected
        assert calendar.working_days_between(due_before, filing.due_at, TZ) == 2
    expected_text = expected.astimezone(ZoneInfo(TZ)).strftime("%d/%m/%Y")
    expect(citizen.locator("#track-due")).to_have_text(expected_text)

    # --- Desarrollo Urbano reads the answer and concludes ---
    urbano_page.reload()
    expect(urbano_page.locator("#messages")).to_contain_text("DU-LC-2026-118")
    expect(urbano_page.locator("#filing-due-date")).to_have_text(expected_text)
    urbano_page.get_by_text("Concluir", exact=True).click()
    urbano_page.get_by_label("Cómo se atendió").fill("Se verificó la licencia; la obra respeta el alineamiento.")
    urbano_page.get_by_role("button", name="Concluir trámite").click()
    _flash(urbano_page).to_have_text("Trámite concluido.")

    # --- the citizen's timeline: both departments, the pause and the end ---
    citizen.goto(f"/seguimiento?folio={folio}&code={code}")
    expect(citizen.locator("#track-status")).to_have_text("Concluido")
    timeline = citizen.locator("#track-result .timeline")
    expect(timeline).to_contain_text("Turnado al área competente · Obras Públicas")
    expect(timeline).to_contain_text("Reasignado a otra área · Desarrollo Urbano")
    expect(timeline).to_contain_text("Se solicitó información al solicitante")
    expect(timeline).to_contain_text("Trámite concluido")
    expect(citizen.locator("#track-due")).to_have_text(expected_text)
    expect(citizen.locator("#message-form")).to_have_count(0)  # closed: no more messages
    citizen.screenshot(path=tmp_path / "seguimiento.png", full_page=True)

    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", expected_text)
    assert errors == []
