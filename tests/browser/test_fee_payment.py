"""A fee is paid by an imported bank file and the filing proceeds: a guest files a procedure with
a fee and gets the payment order; the clerk cannot route it yet; the admin imports the bank's
file; the filer sees it paid and the clerk routes it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from oficialia.models import Role, User
from tests.browser.pages import sign_in
from tests.factories import pdf_bytes

pytestmark = pytest.mark.browser

FOLIO_RE = re.compile(r"^OP-\d{4}-\d{6}$")


def _collect_errors(page: Page, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)


def test_a_fee_is_paid_by_an_imported_bank_file_and_the_filing_proceeds(
        new_context: Callable[[], BrowserContext], make_user: Callable[..., User], tmp_path: Path) -> None:
    errors: list[str] = []
    clerk = make_user(Role.CLERK, name="Laura Méndez")
    admin = make_user(Role.ADMIN, name="Administración")

    # --- a guest files a procedure with a fee: the order and its reference ---
    guest = new_context().new_page()
    _collect_errors(guest, errors)
    guest.goto("/presentar")
    guest.get_by_label("Nombre o razón social").fill("Roberto Díaz Fuentes")
    guest.get_by_label("Correo electrónico").fill("roberto.diaz@example.mx")
    guest.get_by_label("Asunto").fill("Número oficial para mi predio")
    guest.get_by_label("Trámite", exact=True).select_option(label="Asignación de número oficial")
    pdf = tmp_path / "solicitud.pdf"
    pdf.write_bytes(pdf_bytes())
    guest.get_by_label("Documentos").set_input_files(pdf)
    guest.get_by_role("button", name="Enviar escrito").click()
    expect(guest.locator("#folio")).to_have_text(FOLIO_RE)
    folio, code = guest.locator("#folio").inner_text(), guest.locator("#tracking-code").inner_text()
    expect(guest.locator("#payment-status")).to_have_text("Pendiente de pago")
    reference = guest.locator("#payment-reference").inner_text().replace(" ", "")
    assert re.fullmatch(r"\d{12}", reference)
    guest.locator("#payment-order-link").click()
    expect(guest.get_by_role("heading", name="Orden de pago de derechos")).to_be_visible()
    expect(guest.locator("#order-reference")).to_contain_text(reference[:4])
    guest.screenshot(path=tmp_path / "orden-de-pago.png", full_page=True)

    # --- the clerk cannot route it while the fee is unpaid ---
    window = new_context().new_page()
    _collect_errors(window, errors)
    sign_in(window, clerk)
    window.goto(f"/expedientes/{folio}")
    expect(window.locator("#payment-status")).to_have_text("Pendiente de pago")
    route = window.locator('form[data-action="route"]')
    route.get_by_label("Área", exact=True).first.select_option(label="Desarrollo Urbano")
    route.get_by_role("button", name="Turnar escrito").click()
    expect(window.locator(".alert[role=alert]").first).to_contain_text("espera el pago de derechos")
    expect(window.locator("#filing-status")).to_have_text("Recibido")

    # --- the admin imports the bank's payment file ---
    bank_file = tmp_path / "pagos-banco.csv"
    bank_file.write_text("referencia,importe,fecha,autorizacion\n"
                         f"{reference},180.00,2026-11-20,BAN-000123\n"
                         "000000000000,10.00,2026-11-20,BAN-000124\n", encoding="utf-8")
    office = new_context().new_page()
    _collect_errors(office, errors)
    sign_in(office, admin)
    office.get_by_role("link", name="Pagos").click()
    expect(office.locator("#rec-pending")).to_have_text("1")
    office.get_by_label("Archivo de pagos").set_input_files(bank_file)
    office.get_by_role("button", name="Importar pagos").click()
    report = office.locator("#import-report")
    expect(report).to_contain_text("Pagos aplicados: 1")
    expect(report).to_contain_text(f"aplicada al folio {folio}")
    expect(report).to_contain_text("Renglón 3: referencia «000000000000» con dígito verificador incorrecto")
    expect(office.locator("#rec-paid")).to_have_text("1")
    expect(office.locator("#rec-pending")).to_have_text("0")
    office.screenshot(path=tmp_path / "conciliacion.png", full_page=True)

    # --- the filer sees it paid; the clerk routes it ---
    guest.goto(f"/seguimiento?folio={folio}&code={code}")
    expect(guest.locator("#payment-status")).to_have_text("Pagado")
    expect(guest.locator("#track-result")).to_contain_text("Pago de derechos acreditado")
    window.goto(f"/expedientes/{folio}")
    route = window.locator('form[data-action="route"]')
    route.get_by_label("Área", exact=True).first.select_option(label="Desarrollo Urbano")
    route.get_by_role("button", name="Turnar escrito").click()
    expect(window.locator("#filing-status")).to_have_text("Turnado")
    assert errors == []
