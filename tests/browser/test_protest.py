"""A protest reaches the internal audit department: the filer of a refused petition protests from
the tracking page, Contraloría receives it in its Bandeja del área, resolves it, and the filer
sees the outcome on the original filing's tracking page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from oficialia.db import db
from oficialia.extensions import get_store
from oficialia.forms import FilingForm
from oficialia.intake import IntakeSettings, receive_filing
from oficialia.models import FilerKind, Gender, Role, User
from tests.browser.pages import collect_errors, sign_in
from workflows.routing import ActionRequest, Target, perform_action

pytestmark = pytest.mark.browser

TZ = "America/Mexico_City"
FOLIO_RE = re.compile(r"^OP-\d{4}-\d{6}$")






def _refused_filing(app: Flask) -> tuple[str, str]:
    """A guest's petition, routed to Obras Públicas and refused there."""
    from workflows.states import Action

    with app.app_context():
        form = FilingForm(subject="Licencia de banqueta", body="Solicito la licencia para reparar mi banqueta.",
                          procedure=None, department=None, filer_name="Ana Ruiz", filer_email="ana@example.mx",
                          filer_phone=None, filer_kind=FilerKind.NATURAL, filer_gender=Gender.UNSTATED,
                          channel=None, physical_annexes=None)
        received = receive_filing(db.session, get_store(), form=form, uploads=[],
                                  actor=None, settings=IntakeSettings.from_config(app.config))
        filing = received.filing
        admin = db.session.execute(select(User).where(User.email == "admin@demo.gob.mx")).scalar_one()
        obras = db.session.execute(select(User).where(User.email == "obras@demo.gob.mx")).scalar_one()
        perform_action(db.session, filing, admin, ActionRequest(action=Action.ROUTE, targets=(Target("OBRAS"),)),
                       tz=TZ)
        perform_action(db.session, filing, obras,
                       ActionRequest(action=Action.REJECT, note="Traiga copia certificada de la escritura."), tz=TZ)
        return filing.folio, received.tracking_code


def test_a_protest_reaches_the_internal_audit_department(app: Flask, new_context: Callable[[], BrowserContext],
                                                         make_user: Callable[..., User], tmp_path: Path) -> None:
    folio, code = _refused_filing(app)
    audit = make_user(Role.STAFF, department="CONTRA", name="Lic. Andrés Vega")
    errors: list[str] = []

    # --- the filer protests from «Seguimiento» ---
    citizen = new_context().new_page()
    collect_errors(citizen, errors)
    citizen.goto("/seguimiento")
    citizen.get_by_label("Folio", exact=True).fill(folio)
    citizen.get_by_label("Código de seguimiento").fill(code)
    citizen.get_by_role("button", name="Consultar").click()
    expect(citizen.locator("#track-status")).to_have_text("No admitido")
    citizen.get_by_text("Presentar una protesta ciudadana").click()
    citizen.get_by_label("Exigencia de requisitos").check()
    citizen.get_by_label("¿Qué ocurrió?").fill(
        "Me exigieron copia certificada de la escritura, que no está entre los requisitos del trámite.")
    citizen.get_by_role("button", name="Presentar protesta").click()
    expect(citizen.get_by_role("heading", name="Protesta ciudadana recibida")).to_be_visible()
    expect(citizen.locator("#protest-folio")).to_have_text(FOLIO_RE)
    expect(citizen.locator("#protest-filed")).to_contain_text("Contraloría Municipal")
    protest_folio = citizen.locator("#protest-folio").inner_text()
    assert protest_folio != folio
    citizen.screenshot(path=tmp_path / "protesta-recibida.png", full_page=True)

    # --- internal audit finds it in its Bandeja del área, receives it and resolves it ---
    staff = new_context().new_page()
    collect_errors(staff, errors)
    sign_in(staff, audit)
    staff.get_by_role("link", name="Bandeja del área").click()
    row = staff.locator(f'tr[data-folio="{protest_folio}"]')
    expect(row).to_contain_text("Protesta ciudadana sobre el folio")
    row.get_by_role("link", name=protest_folio).click()
    staff.get_by_role("button", name="Recibir en el área").click()
    staff.get_by_role("link", name="Protestas").click()
    staff.locator("#protest-list").get_by_role("link", name=protest_folio).click()
    expect(staff.get_by_role("heading", name=re.compile("Protesta ciudadana"))).to_contain_text(protest_folio)
    staff.get_by_label("Fundada", exact=True).check()
    staff.get_by_label("Resolución").fill("Se instruye a Obras Públicas recibir el trámite sin ese requisito.")
    staff.get_by_role("button", name="Resolver protesta").click()
    expect(staff.locator("#protest-result .protest-outcome")).to_have_text("Fundada")

    # --- the filer sees the outcome on the original filing's tracking page ---
    citizen.goto(f"/seguimiento?folio={folio}&code={code}")
    expect(citizen.locator("#protests")).to_contain_text(protest_folio)
    expect(citizen.locator("#protests .protest-outcome")).to_have_text("Fundada")
    expect(citizen.locator("#protests")).to_contain_text("sin ese requisito")
    expect(citizen.locator("#track-result")).to_contain_text("Protesta ciudadana resuelta")
    citizen.screenshot(path=tmp_path / "protesta-resuelta.png", full_page=True)
    assert errors == []
