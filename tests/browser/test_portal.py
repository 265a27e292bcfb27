"""The portal in a real browser: citizens, guests and the clerk's window file petitions, download
the acuse, and strangers track a folio with its code. Spanish UI, selected by label, role and id."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Download, Page, expect
from pypdf import PdfReader
from sqlalchemy import func, select

from oficialia.db import db
from oficialia.models import Filing, Role, User
from tests.browser.pages import sign_in
from tests.factories import pdf_bytes, png_bytes, tiff_bytes

pytestmark = pytest.mark.browser

FOLIO_RE = re.compile(r"^OP-\d{4}-\d{6}$")
CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path




def _confirmation(page: Page) -> tuple[str, str]:
    """Folio and tracking code from the confirmation page."""
    expect(page.get_by_role("heading", name="Escrito recibido")).to_be_visible()
    expect(page.locator("#folio")).to_have_text(FOLIO_RE)
    expect(page.locator("#tracking-code")).to_have_text(CODE_RE)
    return page.locator("#folio").inner_text(), page.locator("#tracking-code").inner_text()


def _download_receipt(page: Page, tmp_path: Path, folio: str) -> tuple[bytes, str]:
    """Click «Descargar acuse»; the PDF's bytes and its text."""
    with page.expect_download() as info:
        page.locator("#download-receipt").click()
    download: Download = info.value
    assert download.suggested_filename == f"acuse-{folio}.pdf"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    return data, text


def _register_walk_in(page: Page, clerk: User, tmp_path: Path) -> tuple[str, str]:
    """The clerk registers a paper filing from a 3-page scan; its folio and tracking code."""
    sign_in(page, clerk)
    expect(page).to_have_url(re.compile(r"/ventanilla$"))  # a clerk starts at the window
    page.get_by_label("Nombre o razón social de quien presenta").fill("Comité Vecinal Las Flores")
    page.get_by_label("Asunto").fill("Solicitud de poda de árboles en la calle Jacarandas")
    page.get_by_label("Dirigido a (área)").select_option(label="Servicios Públicos")
    page.get_by_label("Documentos").set_input_files(_write(tmp_path, "escaneo.tif", tiff_bytes(3)))
    page.get_by_label("Anexos recibidos en físico").fill("2 fotografías impresas del arbolado")
    page.get_by_role("button", name="Registrar y emitir acuse").click()
    return _confirmation(page)


def _file_as_guest(page: Page, tmp_path: Path) -> tuple[str, str]:
    page.goto("/presentar")
    expect(page.get_by_role("link", name="Entrar", exact=True)).to_be_visible()  # nobody signed in
    page.get_by_label("Nombre o razón social").fill("Roberto Díaz Fuentes")
    page.get_by_label("Correo electrónico").fill("roberto.diaz@example.mx")
    page.get_by_label("Asunto").fill("Recolección de un sillón en la vía pública")
    page.get_by_label("Trámite", exact=True).select_option(label="Recolección de residuos voluminosos")
    page.get_by_label("Documentos").set_input_files(_write(tmp_path, "solicitud.pdf", pdf_bytes()))
    page.get_by_role("button", name="Enviar escrito").click()
    return _confirmation(page)


def test_citizen_files_with_two_attachments_and_downloads_the_acuse(
        page: Page, make_user: Callable[..., User], tmp_path: Path) -> None:
    """GIVEN a citizen signed in
    WHEN they file a petition with a PDF and a PNG
    THEN the confirmation shows folio and code, the acuse carries both, and «Mis trámites» lists it."""
    sign_in(page, make_user(Role.CITIZEN, name="Ana López Ruiz"))
    page.get_by_role("link", name="Presentar escrito", exact=True).click()
    expect(page.get_by_role("heading", name="Presentar un escrito")).to_be_visible()
    page.get_by_label("Asunto").fill("Reparación de luminaria en la calle Hidalgo")
    page.get_by_label("Texto de la petición").fill("La luminaria frente al número 45 no enciende desde marzo.")
    page.get_by_label("Trámite", exact=True).select_option(label="Reparación de alumbrado público")
    page.get_by_label("Documentos").set_input_files([
        _write(tmp_path, "escrito.pdf", pdf_bytes(2)), _write(tmp_path, "foto.png", png_bytes())])
    page.get_by_role("button", name="Enviar escrito").click()

    folio, code = _confirmation(page)
    documents = page.locator("table tbody tr")
    expect(documents).to_have_count(2)
    expect(documents.nth(0).locator("td").nth(1)).to_have_text("2")
    expect(documents.nth(1).locator("td").nth(1)).to_have_text("1")

    _, text = _download_receipt(page, tmp_path, folio)
    assert folio in text
    assert code in text

    page.get_by_role("link", name="Mis trámites").click()
    expect(page.get_by_role("heading", name="Mis trámites")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=folio, exact=True))
    expect(row).to_contain_text("Reparación de luminaria en la calle Hidalgo")
    expect(row).to_contain_text("Recibido")


def test_clerk_registers_a_walk_in_from_a_multipage_tiff(
        page: Page, make_user: Callable[..., User], tmp_path: Path) -> None:
    folio, _ = _register_walk_in(page, make_user(Role.CLERK, department="OP"), tmp_path)
    expect(page.get_by_text("1 documento(s), 3 página(s)")).to_be_visible()
    expect(page.locator("table tbody tr td").nth(1)).to_have_text("3")

    _, text = _download_receipt(page, tmp_path, folio)
    assert folio in text
    assert "fotografías impresas" in text


def test_stranger_tracks_a_folio_only_with_the_right_code(
        page: Page, new_context: Callable[[], BrowserContext], make_user: Callable[..., User],
        tmp_path: Path) -> None:
    """GIVEN a walk-in filing registered by a clerk
    WHEN someone else, not signed in, looks it up on «Seguimiento»
    THEN the right code shows its state and timeline, and a wrong one a 404 like an unknown folio."""
    folio, code = _register_walk_in(page, make_user(Role.CLERK, department="OP"), tmp_path)
    stranger = new_context().new_page()
    stranger.goto("/seguimiento")
    expect(stranger.get_by_role("link", name="Entrar", exact=True)).to_be_visible()

    stranger.get_by_label("Folio", exact=True).fill(folio)
    stranger.get_by_label("Código de seguimiento").fill(code)
    stranger.get_by_role("button", name="Consultar").click()
    result = stranger.locator("#track-result")
    expect(result).to_be_visible()
    expect(result).to_contain_text(folio)
    expect(stranger.locator("#track-status")).to_have_text("Recibido")
    timeline = result.locator(".timeline li")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("Escrito recibido · Servicios Públicos")

    wrong = "0000-0000-0000" if code != "0000-0000-0000" else "1111-1111-1111"
    stranger.get_by_label("Folio", exact=True).fill(folio)
    stranger.get_by_label("Código de seguimiento").fill(wrong)
    with stranger.expect_response(lambda r: "/seguimiento?" in r.url) as answer:
        stranger.get_by_role("button", name="Consultar").click()
    assert answer.value.status == 404
    expect(stranger.locator("#track-error")).to_be_visible()
    expect(stranger.locator("#track-error")).to_contain_text("No encontramos un trámite")
    expect(stranger.locator("#track-result")).to_have_count(0)


def test_guest_files_with_name_and_email(page: Page, tmp_path: Path) -> None:
    folio, _ = _file_as_guest(page, tmp_path)
    assert folio.endswith("-000001")
    expect(page.get_by_text("1 documento(s), 1 página(s)")).to_be_visible()


def test_text_disguised_as_pdf_comes_back_with_a_spanish_error(page: Page, app: Flask, tmp_path: Path) -> None:
    subject = "Queja por ruido — vecinos de la calle Álamo"
    page.goto("/presentar")
    page.get_by_label("Nombre o razón social").fill("Lucía Peña")
    page.get_by_label("Correo electrónico").fill("lucia@example.mx")
    page.get_by_label("Asunto").fill(subject)
    page.get_by_label("Documentos").set_input_files(_write(tmp_path, "falso.pdf", b"hola"))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Enviar escrito").click()

    assert answer.value.status == 415
    alert = page.locator(".alert-danger[role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("«falso.pdf»: Tipo de archivo no admitido")
    expect(page.get_by_role("heading", name="Presentar un escrito")).to_be_visible()
    expect(page.get_by_label("Asunto")).to_have_value(subject)
    expect(page.get_by_label("Correo electrónico")).to_have_value("lucia@example.mx")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Filing)).scalar_one() == 0


def test_confirmation_and_tracking_pages_render_styled(page: Page, live_server: str, tmp_path: Path) -> None:
    """Screenshots for a human to look at when debugging; no CSP refusals and no missing assets."""
    errors: list[str] = []
    # a failed load is reported by URL below; the console only says "Failed to load resource"
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    # chromium asks for /favicon.ico on its own; the product ships none
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("requestfailed", lambda r: errors.append(f"{r.url}: {r.failure}"))
    folio, _ = _file_as_guest(page, tmp_path)
    # Bootstrap itself, served from /vendor, styles the buttons
    background = page.locator("#download-receipt").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(13, 110, 253)"
    confirmation = tmp_path / "confirmacion.png"
    page.screenshot(path=confirmation, full_page=True)

    page.get_by_role("link", name="Ver seguimiento").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server)}/seguimiento\?folio={folio}&code="))
    expect(page.locator("#track-status")).to_have_text("Recibido")
    tracking = tmp_path / "seguimiento.png"
    page.screenshot(path=tracking, full_page=True)

    for shot in (confirmation, tracking):
        assert shot.stat().st_size > 0
        assert shot.read_bytes().startswith(b"\x89PNG")
    assert errors == []
