"""A response signed with SAT's test e.firma in a real browser: drafted from the filing's page,
refused with clear Spanish messages for a wrong password, a CSD, an expired e.firma and a
mismatched .cer/.key, signed by two signers in turn, issued, and downloaded by the filer from
the public tracking page; the PDF validates against SAT's test CAs with pyHanko."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

import firma
from oficialia.models import Role, User
from tests.browser.pages import sign_in
from tests.factories import pdf_bytes

pytestmark = [pytest.mark.browser, pytest.mark.pki]

SAT = Path(__file__).resolve().parents[1] / "data" / "sat"
SAT_PASSWORD = "12345678a"
SAT_RFC = "EKU9003173C9"


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path, test_pki: Any) -> dict[str, Any]:
    """The browser's settings, signing at B-T with the test PKI's TSA and sealing with its seal;
    SAT's test CAs in the trust store."""
    from tests.oficialia.test_responses import signing_config

    return app_config | signing_config(tmp_path / "signing", test_pki)


def _filing_in_progress(app: Flask, citizen: str, clerk: str, staff: str) -> dict[str, str]:
    """A citizen's filing, routed to Obras Públicas and accepted there (through the API)."""
    client = app.test_client()
    filed = client.post("/api/v1/filings", headers={"Authorization": f"Bearer {citizen}"},
                        content_type="multipart/form-data",
                        data={"subject": "Bache profundo en la calle Encino", "body": "Solicito su reparación.",
                              "filer_kind": "fisica", "procedure": "OBRAS-BACHEO",
                              "files": [(io.BytesIO(pdf_bytes()), "escrito.pdf")]})
    assert filed.status_code == 201, filed.json
    folio = filed.json["folio"]
    for token, body in ((clerk, {"action": "route", "department": "OBRAS"}), (staff, {"action": "accept"})):
        moved = client.post(f"/api/v1/filings/{folio}/actions", json=body, headers={"Authorization": f"Bearer {token}"})
        assert moved.status_code == 200, moved.json
    return filed.json


def _validate(pdf: bytes) -> list[tuple[bool, bool, bool, str, str]]:
    """Each signature (not document timestamps) of ``pdf`` validated with pyHanko against SAT's
    test CAs: intact, valid, trusted, signer's subject, details."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    roots = firma.load_certificates((SAT / "sat.certs/ARC_UAT_2022.crt").read_bytes())
    inter = firma.load_certificates((SAT / "sat.certs/AC_UAT_2022.crt").read_bytes())
    results = []
    for embedded in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
        if embedded.sig_object_type != "/Sig":
            continue
        status = validate_pdf_signature(embedded, ValidationContext(trust_roots=roots, other_certs=inter))
        results.append((status.intact, status.valid, status.trusted, status.signing_cert.subject.human_friendly,
                        status.pretty_print_details()))
    return results


def _errors(page: Page, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)


def _sign(page: Page, cer: str, key: str, password: str) -> None:
    page.get_by_label("Certificado (.cer)").set_input_files(str(SAT / cer))
    page.get_by_label("Clave privada (.key)").set_input_files(str(SAT / key))
    page.get_by_label("Contraseña de la clave privada").fill(password)
    page.get_by_role("button", name="Firmar").click()


def _refused(page: Page, words: str) -> None:
    alert = page.locator(".alert[role=alert]").first
    expect(alert).to_contain_text(words)
    assert SAT_PASSWORD not in alert.inner_text()
    expect(page.locator("#response-status")).to_have_text(re.compile("Borrador|En firma"))


def test_two_signers_sign_with_the_sat_efirma_and_the_filer_downloads_the_response(
        page: Page, new_context: Callable[[], BrowserContext], make_user: Callable[..., User],
        make_token: Callable[[User], str], app: Flask, tmp_path: Path) -> None:
    """GIVEN a filing in progress at Obras Públicas and two signers whose profile RFC is the SAT
    test e.firma's WHEN staff drafts a letter for both, each signs in turn on «Firmas
    pendientes» (after refused attempts) THEN the filing is answered and the filer, with folio
    and code, downloads a PDF whose signatures validate against SAT's test CAs."""
    errors: list[str] = []
    staff = make_user(Role.STAFF, department="OBRAS", name="Jorge Ramírez", email="jorge@obras.mx")
    titular = make_user(Role.SIGNER, department="OBRAS", name="Roberto Salas", email="titular@obras.mx",
                        rfc=SAT_RFC)
    juridico = make_user(Role.SIGNER, department="OBRAS", name="Lucía Pérez", email="juridico@obras.mx",
                         rfc=SAT_RFC)
    filing = _filing_in_progress(app, make_token(make_user(Role.CITIZEN, name="Ana Torres")),
                                 make_token(make_user(Role.CLERK, department="OP")), make_token(staff))
    folio, code = filing["folio"], filing["tracking_code"]

    # --- staff drafts the letter from the filing's page ---
    _errors(page, errors)
    sign_in(page, staff)
    page.goto(f"/expedientes/{folio}")
    page.get_by_role("link", name="Redactar respuesta").click()
    page.get_by_label("Sentido de la respuesta").select_option("favorable")
    page.get_by_label("Texto de la respuesta").fill("Se programó la reparación del bache.\n\n"
                                                    "La cuadrilla acudirá en los próximos cinco días hábiles.")
    page.get_by_label("Primer firmante").select_option(label=f"Roberto Salas · {SAT_RFC}")
    page.get_by_label("Segundo firmante").select_option(label=f"Lucía Pérez · {SAT_RFC}")
    page.get_by_role("button", name="Guardar borrador y enviar a firma").click()
    expect(page.locator(".alert[role=alert]").first).to_contain_text("Borrador de respuesta guardado")
    expect(page.locator("#responses-panel")).to_contain_text("Borrador")

    # --- the first signer: refusals first, each in Spanish, then the signature ---
    first = new_context().new_page()
    _errors(first, errors)
    sign_in(first, titular)
    first.get_by_role("link", name=re.compile("Firmas pendientes")).click()
    expect(first.locator("#signing-queue")).to_contain_text(folio)
    first.get_by_role("link", name="Revisar y firmar").click()
    _sign(first, "fake-fiel/EKU9003173C9.cer", "fake-fiel/EKU9003173C9.key", "no-es-la-clave")
    _refused(first, "contraseña")
    _sign(first, "fake-csd/EKU9003173C9.cer", "fake-csd/EKU9003173C9.key", SAT_PASSWORD)
    _refused(first, "sello digital (CSD), no una e.firma")
    _sign(first, "FIEL_AAA010101AAA/certificate.cer", "FIEL_AAA010101AAA/private_key.key", SAT_PASSWORD)
    _refused(first, "venció")
    _sign(first, "fake-fiel/EKU9003173C9.cer", "fake-csd/EKU9003173C9.key", SAT_PASSWORD)
    _refused(first, "no corresponde al certificado")
    _sign(first, "fake-fiel/EKU9003173C9.cer", "fake-fiel/EKU9003173C9.key", SAT_PASSWORD)
    expect(first.locator(".alert[role=alert]").first).to_contain_text("Firma registrada")
    expect(first.locator("#queue-empty")).to_be_visible()

    # --- the second signer closes it: sealed, issued, answered ---
    second = new_context().new_page()
    _errors(second, errors)
    sign_in(second, juridico)
    second.get_by_role("link", name=re.compile("Firmas pendientes")).click()
    second.get_by_role("link", name="Revisar y firmar").click()
    _sign(second, "fake-fiel/EKU9003173C9.cer", "fake-fiel/EKU9003173C9.key", SAT_PASSWORD)
    expect(second.locator(".alert[role=alert]").first).to_contain_text("Respuesta firmada y emitida")
    expect(second.locator("#filing-status")).to_have_text("Respondido")

    # --- the filer downloads it from the public tracking page ---
    public = new_context().new_page()
    _errors(public, errors)
    public.goto("/seguimiento")
    public.get_by_placeholder("Folio, ej. OP-2026-000001").fill(folio)
    public.get_by_placeholder("Código de seguimiento").fill(code)
    public.get_by_role("button", name="Consultar").click()
    expect(public.locator("#track-status")).to_have_text("Respondido")
    expect(public.locator("#track-response")).to_contain_text("Favorable")
    with public.expect_download() as info:
        public.locator("#download-response").click()
    path = tmp_path / "respuesta.pdf"
    info.value.save_as(path)
    assert info.value.suggested_filename == f"respuesta-{folio}.pdf"

    # Playwright's sync API keeps an event loop in this thread; pyHanko starts its own: another thread
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(_validate, path.read_bytes()).result()
    assert len(results) == 3  # two e.firma signatures and the institution's seal
    for intact, valid, trusted, subject, details in results[:2]:
        assert intact and valid and trusted, details
        assert "ESCUELA KEMPER URGATE" in subject
    assert errors == []
