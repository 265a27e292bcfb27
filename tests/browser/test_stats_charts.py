"""The statistics in a real browser: the dashboard and the public transparency page draw every
chart (a Chart.js instance on each canvas, with pixels painted), under the strict CSP."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from oficialia.db import db, utcnow
from oficialia.demo_history import generate_history
from oficialia.models import Role
from tests.conftest import PASSWORD
from workflows.routing import working_calendar

pytestmark = pytest.mark.browser

#: for every canvas: whether Chart.js drew it, and how many of its pixels are not transparent
CHART_STATE = """() => Array.from(document.querySelectorAll("canvas[data-chart]")).map((c) => {
  const ctx = c.getContext("2d");
  const data = ctx.getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) { painted++; } }
  return {id: c.closest("section").id, chart: !!window.Chart.getChart(c), painted: painted};
})"""


@pytest.fixture
def history(app: Flask, live_server: str) -> None:
    with app.app_context():
        generate_history(db.session, filings=600, years=2, tz=app.config["TIMEZONE"],
                         folio_format=app.config["FOLIO_FORMAT"], office=app.config["FOLIO_OFFICE"],
                         calendar=working_calendar(db.session),
                         today=utcnow().astimezone(ZoneInfo(app.config["TIMEZONE"])).date(), seed=3)


def _charts_drawn(page: Page, at_least: int) -> list[dict[str, object]]:
    expect(page.locator("body[data-charts-ready='1']")).to_have_count(1)
    state = page.evaluate(CHART_STATE)
    assert len(state) >= at_least, state
    for chart in state:
        assert chart["chart"], chart
        assert int(str(chart["painted"])) > 500, chart
    return state


def test_dashboard_draws_every_chart(page: Page, history: None, make_user, app: Flask) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    auditor = make_user(Role.AUDITOR, department="CONTRA")
    page.goto("/entrar")
    page.get_by_label("Correo electrónico").fill(auditor.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_role("link", name="Estadísticas").click()
    expect(page.get_by_role("heading", name="Estadísticas de la atención")).to_be_visible()
    drawn = _charts_drawn(page, at_least=13)
    assert {"fig-por-dia", "fig-comparativo-anual", "fig-por-genero", "fig-tiempos-respuesta", "fig-sentido",
            "fig-rezago", "fig-satisfaccion"} <= {str(c["id"]) for c in drawn}
    # a filter redraws the charts for one department
    page.get_by_label("Área", exact=True).select_option(label="Desarrollo Urbano")
    page.get_by_role("button", name="Aplicar").click()
    expect(page).to_have_url(re.compile(r"department=DU"))
    _charts_drawn(page, at_least=10)
    assert not errors, errors


def test_public_page_draws_its_charts(page: Page, history: None) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    page.get_by_role("link", name="Transparencia").click()
    expect(page.get_by_role("heading", name="Transparencia: cómo atendemos los escritos")).to_be_visible()
    _charts_drawn(page, at_least=8)
    assert page.locator("#open-data").get_attribute("href") == "/transparencia/datos-abiertos.csv"
    assert not errors, errors
