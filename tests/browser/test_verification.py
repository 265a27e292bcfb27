"""The verifier in a real browser: an admin trusts the institution's CA on the *Confianza* page, then a
stranger checks a signed response on *Verificar firma* — valid, then an altered copy — and downloads
the PDF report."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader

from oficialia.models import Role
from tests.browser.pages import sign_in
from tests.firma import signed_material as material

pytestmark = pytest.mark.browser


@pytest.fixture
def verifier_closed(app: Flask) -> Iterator[None]:
    yield
    verifier = app.extensions.get("verifier")
    if verifier is not None:
        verifier.close()


def test_trust_then_verify_in_the_browser(new_context: Callable[[], BrowserContext], make_user, tmp_path: Path,
                                          verifier_closed: None) -> None:
    def make_material() -> None:
        pki = material.make_pki()
        signed = material.sign(material.make_document(), pki)
        (tmp_path / "raiz.pem").write_bytes(pki.root.pem)
        (tmp_path / "respuesta.pdf").write_bytes(signed)
        (tmp_path / "alterada.pdf").write_bytes(material.form_value_changed(signed))

    # pyHanko signs with asyncio.run(), which cannot run inside Playwright's event loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(make_material).result()

    admin: Page = new_context().new_page()
    sign_in(admin, make_user(Role.ADMIN))
    admin.get_by_role("link", name="Confianza").click()
    expect(admin.get_by_text("El almacén está vacío")).to_be_visible()
    admin.get_by_label("Certificado (PEM o DER)").set_input_files(str(tmp_path / "raiz.pem"))
    admin.get_by_label("Por qué se confía en ella").fill("Raíz de la institución")
    admin.get_by_role("button", name="Importar").click()
    expect(admin.locator("#anchors")).to_contain_text("Raíz de Prueba del Ayuntamiento")
    expect(admin.locator("#anchors")).to_contain_text("Raíz de la institución")

    stranger: Page = new_context().new_page()
    stranger.goto("/")
    stranger.get_by_role("link", name="Verificar firma").click()
    stranger.get_by_label("Documento PDF firmado").set_input_files(str(tmp_path / "respuesta.pdf"))
    stranger.get_by_role("button", name="Verificar", exact=True).click()
    expect(stranger.locator("#verdict")).to_have_text("VÁLIDA")
    expect(stranger.locator("#verify-result")).not_to_contain_text("NO VÁLIDA")
    expect(stranger.get_by_text("SAPR800101AB1")).to_be_visible()

    stranger.get_by_label("Documento PDF firmado").set_input_files(str(tmp_path / "alterada.pdf"))
    stranger.get_by_role("button", name="Verificar", exact=True).click()
    expect(stranger.locator("#verdict")).to_have_text("NO VÁLIDA")
    expect(stranger.locator("#verdict-reason")).to_contain_text("Observaciones")

    stranger.get_by_label("Documento PDF firmado").set_input_files(str(tmp_path / "respuesta.pdf"))
    with stranger.expect_download() as info:
        stranger.get_by_role("button", name="Verificar y descargar informe PDF").click()
    report = Path(info.value.path()).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report)).pages)
    assert "VÁLIDA" in text and "Roberto Salas Prueba" in text
