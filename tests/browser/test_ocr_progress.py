"""A clerk watches the OCR of a 5-page scan progress, live, until the filing is searchable."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import img2pdf
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from oficialia.dispatch import ThreadDispatcher
from oficialia.models import Role, User
from tests.browser.pages import sign_in
from tests.factories import scan_png

pytestmark = [pytest.mark.browser, pytest.mark.ocr, pytest.mark.slow]


def test_clerk_sees_ocr_progress_until_searchable(page: Page, app: Flask, make_user: Callable[..., User],
                                                  tmp_path: Path) -> None:
    app.extensions["dispatcher"] = dispatcher = ThreadDispatcher(app, workers=1)
    pages = [scan_png(f"Hoja {n}. Solicitud de desazolve del drenaje pluvial en la colonia Las Palmas.")
             for n in range(1, 6)]
    scan = tmp_path / "expediente.pdf"
    scan.write_bytes(img2pdf.convert(pages, layout_fun=img2pdf.get_fixed_dpi_layout_fun((300, 300))))
    clerk = make_user(Role.CLERK, department="OP", name="Laura Méndez")
    sign_in(page, clerk)
    page.get_by_label("Nombre o razón social de quien presenta").fill("Junta de Vecinos Las Palmas")
    page.get_by_label("Asunto").fill("Desazolve de drenaje")
    page.get_by_label("Documentos").set_input_files(scan)
    page.get_by_role("button", name="Registrar y emitir acuse").click()
    expect(page.get_by_role("heading", name="Escrito recibido")).to_be_visible()
    folio = page.locator("#folio").inner_text()

    label = page.locator("#ocr-documents .ocr-label").first
    # progress shows page by page, without reloading the page
    expect(label).to_have_text(re.compile(r"Procesando OCR · página [1-5] de 5"), timeout=60_000)
    expect(page.get_by_role("progressbar", name="Avance del OCR").first).to_be_visible()
    expect(label).to_have_text("Buscable", timeout=180_000)
    expect(page.get_by_role("link", name="Copia buscable (PDF/A)")).to_be_visible()

    page.goto("/bandeja?q=drenaje+pluvial")
    expect(page.get_by_role("link", name=folio)).to_be_visible()
    expect(page.locator(".search-snippet mark").first).to_be_visible()
    dispatcher.pool.shutdown(wait=True)
