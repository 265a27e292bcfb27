"""Signing settings, the trust store, the institution seal and the sealed acuse."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

import firma
from app import create_app
from oficialia import demo as demo_module
from oficialia import signing
from tests.factories import pdf_bytes
from tests.fixtures.pki import TestPki
from tests.fixtures.softhsm import SoftHsmToken


@pytest.fixture
def make_app(app_config: dict) -> Iterator[Callable[..., Flask]]:
    """Apps with extra settings; their database connections are closed afterwards."""
    from oficialia.db import db

    made: list[Flask] = []

    def make(**settings: object) -> Flask:
        application = create_app(app_config | settings)
        made.append(application)
        return application

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _demo_pki(app: Flask) -> demo_module.DemoPkiFiles:
    with app.app_context():
        return demo_module.ensure_demo_pki(signing.pki_dir(), institution="Municipio de Prueba")


def _validate(data: bytes, app: Flask) -> list:  # type: ignore[type-arg]
    with app.app_context():
        anchors, intermediates = signing.trust_roots()
    reader = PdfFileReader(io.BytesIO(data))
    return [
        validate_pdf_signature(sig, ValidationContext(trust_roots=list(anchors), other_certs=list(intermediates)))
        for sig in reader.embedded_regular_signatures
    ]


def test_no_seal_and_b_b_without_configuration(app: Flask) -> None:
    with app.app_context():
        assert not signing.seal_configured()
        assert signing.signing_settings().level == "B-B"
        assert signing.trust_roots() == ((), ())
        with pytest.raises(firma.SealUnavailable, match="No hay un sello"):
            signing.get_seal()


def test_demo_pki_is_written_once_and_used_by_default(app: Flask) -> None:
    files = _demo_pki(app)
    assert files.created
    folder = files.folder
    assert (folder / "trust" / "root.pem").exists() and (folder / "trust" / "issuing-ca.pem").exists()
    assert (folder / "seal.p12").stat().st_mode & 0o077 == 0
    ((email, p12),) = files.signers
    assert email == "titular.obras@demo.gob.mx" and p12.name == "titular.obras.p12"
    seal_bytes = (folder / "seal.p12").read_bytes()
    again = _demo_pki(app)
    assert not again.created and (folder / "seal.p12").read_bytes() == seal_bytes

    identity = firma.load_pkcs12(p12.read_bytes(), demo_module.DEMO_SIGNER_PASSWORD)
    with app.app_context():
        anchors, intermediates = signing.trust_roots()
        assert len(anchors) == 1 and len(intermediates) == 1
        firma.check_identity(identity, expected_rfc="AAA010101AAA", trust=signing.trust_settings())
        seal = signing.get_seal()
        assert signing.get_seal() is seal  # loaded once per process
        sealed = signing.seal_pdf(pdf_bytes(), folio="OP-2026-000001", visible=True)
    assert sealed.level == "B-B" and sealed.signer_name.startswith("Sello electrónico")
    (status,) = _validate(sealed.data, app)
    assert status.bottom_line, status.pretty_print_details()


def test_level_follows_tsa_and_cap(make_app: Callable[..., Flask], test_pki: TestPki, tmp_path: Path) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "root.der").write_bytes(test_pki.root.dump())
    (trust / "interm.cer").write_bytes(test_pki.interm.dump())
    app = make_app(TSA_URL=test_pki.tsa_url, TRUST_DIR=str(trust))
    with app.app_context():
        assert signing.signing_settings().level == "B-LTA"
    capped = make_app(TSA_URL=test_pki.tsa_url, TRUST_DIR=str(trust), SIGNING_LEVEL="b-t")
    with capped.app_context():
        assert signing.signing_settings().level == "B-T"
    wrong = make_app(SIGNING_LEVEL="B-X")
    with wrong.app_context(), pytest.raises(RuntimeError, match="OFICIALIA_SIGNING_LEVEL"):
        signing.signing_settings()


def test_trust_store_is_reread_when_a_file_is_added(app: Flask, test_pki: TestPki) -> None:
    _demo_pki(app)
    with app.app_context():
        assert len(signing.trust_roots()[0]) == 1
        (signing.trust_dir() / "otra-raiz.der").write_bytes(test_pki.root.dump())
        assert len(signing.trust_roots()[0]) == 2


@pytest.mark.pki
def test_seal_from_pkcs11_configuration(
    make_app: Callable[..., Flask], softhsm_token: SoftHsmToken, test_pki: TestPki, tmp_path: Path
) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "root.der").write_bytes(test_pki.root.dump())
    (trust / "interm.der").write_bytes(test_pki.interm.dump())
    app = make_app(
        TRUST_DIR=str(trust), SEAL_PKCS11_LIBRARY=softhsm_token.library,
        SEAL_PKCS11_TOKEN=softhsm_token.token_label, SEAL_PKCS11_PIN=softhsm_token.pin,
        SEAL_PKCS11_KEY_LABEL=softhsm_token.key_label,
    )
    with app.app_context():
        assert signing.seal_configured()
        sealed = signing.seal_pdf(pdf_bytes(), folio="OP-2026-000002")
    (status,) = _validate(sealed.data, app)
    assert status.bottom_line, status.pretty_print_details()


def _file(client) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    data = {"subject": "Bache en la calle Hidalgo", "body": "Solicito su reparación.", "filer_kind": "fisica",
            "procedure": "OBRAS-BACHEO", "filer_name": "Luis Pérez", "filer_email": "luis@correo.mx",
            "files": [(io.BytesIO(pdf_bytes()), "peticion.pdf")]}
    response = client.post("/presentar", data=data, content_type="multipart/form-data")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    folio = re.search(r'id="folio">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="tracking-code">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    return folio, code


def test_acuse_is_sealed_after_the_demo_pki_exists(app: Flask, client, demo) -> None:  # type: ignore[no-untyped-def]
    _demo_pki(app)
    folio, code = _file(client)
    acuse = client.get(f"/acuse/{folio}.pdf?code={code}")
    assert acuse.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(acuse.data)).pages)
    assert folio in text  # the acuse is unchanged underneath the seal
    (status,) = _validate(acuse.data, app)
    assert status.bottom_line and status.signing_cert.subject.native["common_name"].startswith("Sello electrónico")


def test_a_broken_seal_configuration_is_a_clear_503(make_app: Callable[..., Flask]) -> None:
    app = make_app(SEAL_PASSWORD="no-es-la-clave")
    _demo_pki(app)
    with app.test_request_context("/api/v1/x"), pytest.raises(firma.SealUnavailable) as info:
        signing.seal_pdf(pdf_bytes(), folio="OP-2026-000003")
    assert info.value.http_status == 503 and "OFICIALIA_SEAL_PASSWORD" in info.value.message


def test_demo_command_prints_the_demo_certificates(app: Flask, runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "titular.obras.p12" in result.output and demo_module.DEMO_SIGNER_PASSWORD in result.output
    assert "PKI de demostración (creada)" in result.output
    assert "ya existía" in runner.invoke(args=["demo"]).output


@pytest.mark.pki
def test_logbook_checkpoint_gets_a_tsa_timestamp(
    app: Flask, make_app: Callable[..., Flask], test_pki: TestPki
) -> None:
    import asyncio
    from functools import partial

    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus

    from oficialia.db import db
    from oficialia.worker import run_maintenance
    from workflows.logbook import append_entry, checkpoint_digest, take_checkpoint
    from workflows.models import LogbookCheckpoint

    app = make_app(TSA_URL=test_pki.tsa_url)  # the `app` fixture wipes the tables afterwards
    with app.app_context():
        append_entry(db.session, event="note", actor_label="pruebas", data={"n": 1})
        db.session.commit()
        run_maintenance()  # the periodic checkpoint, with the TSA configured
        checkpoint = db.session.execute(sa.select(LogbookCheckpoint)).scalar_one()
        assert checkpoint.tsa_token is not None
        digest = checkpoint_digest(checkpoint.seq, checkpoint.hash)
        signed_data = cms.ContentInfo.load(checkpoint.tsa_token)["content"]
        context = ValidationContext(trust_roots=[test_pki.root])
        status = TimestampSignatureStatus(
            **asyncio.run(validate_tst_signed_data(signed_data, context, lambda _md: digest))
        )
        assert status.intact and status.valid and status.trusted

        # A TSA that is down leaves the checkpoint without a token; it is stored all the same.
        append_entry(db.session, event="note", actor_label="pruebas", data={"n": 2})
        with test_pki.switched_off():
            later = take_checkpoint(db.session, timestamp=partial(firma.timestamp_digest, tsa_url=test_pki.tsa_url,
                                                                  timeout=2))
        db.session.commit()
        assert later is not None and later.tsa_token is None
