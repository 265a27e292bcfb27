"""An independent validator agrees: poppler's pdfsig with an NSS database holding the CAs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import firma
from firma.pki import generate_demo_pki
from tests.conftest import unavailable
from tests.firma.conftest import make_pdf, sat_file


def nss_db(directory: Path, *pem_or_der: bytes) -> str:
    if not (shutil.which("certutil") and shutil.which("pdfsig")):
        unavailable("pdfsig (poppler-utils) and certutil (libnss3-tools) are needed")
    directory.mkdir(parents=True)
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    for number, data in enumerate(pem_or_der):
        path = directory / f"ca{number}.crt"
        path.write_bytes(data)
        armour = ["-a"] if data.lstrip().startswith(b"-----") else []
        subprocess.run(
            ["certutil", "-A", "-d", db, "-n", f"ca{number}", "-t", "CT,C,C", *armour, "-i", str(path)],
            check=True, capture_output=True,
        )
    return db


def pdfsig(db: str, pdf: Path) -> str:
    result = subprocess.run(["pdfsig", "-nssdir", db, str(pdf)], capture_output=True, text=True, check=False)
    return result.stdout


def test_sat_efirma_and_the_seal_are_trusted_by_pdfsig(
    tmp_path: Path, sat_efirma: firma.SigningIdentity, stamp: firma.VisibleStamp
) -> None:
    demo = generate_demo_pki(institution="Municipio de Prueba", seal_password="s-123", signer_password="p-123")
    root = sat_file("sat.certs/ARC_UAT_2022.crt")
    trust = firma.TrustSettings(
        roots=(*firma.load_certificates(root), *firma.load_certificates(demo.root_pem)),
        intermediates=tuple(firma.load_certificates(sat_file("sat.certs/AC_UAT_2022.crt"))),
    )
    settings = firma.SigningSettings(trust=trust)
    signed = firma.sign_pdf(make_pdf(), sat_efirma, settings=settings, stamp=stamp, certify=True, later_signatures=1)
    sealed = firma.InstitutionSeal.from_pkcs12(demo.seal_pkcs12, "s-123").seal(signed.data, settings=settings)
    path = tmp_path / "respuesta.pdf"
    path.write_bytes(sealed.data)
    db = nss_db(tmp_path / "nss", root, demo.root_pem)
    report = pdfsig(db, path)
    assert report.count("Signature Validation: Signature is Valid.") == 2, report
    assert report.count("Certificate Validation: Certificate is Trusted.") == 2, report
    assert "ESCUELA KEMPER URGATE SA DE CV" in report

    # The control: without the SAT root, pdfsig does not trust the e.firma.
    bare = nss_db(tmp_path / "nss-bare", demo.root_pem)
    assert pdfsig(bare, path).count("Certificate is Trusted.") == 1


@pytest.mark.parametrize("where", [100, -200])
def test_pdfsig_sees_tampering(tmp_path: Path, sat_efirma: firma.SigningIdentity, where: int) -> None:
    signed = firma.sign_pdf(make_pdf(), sat_efirma, settings=firma.SigningSettings())
    data = bytearray(signed.data)
    data[where] = ord(" ") if data[where] != ord(" ") else ord("\n")
    path = tmp_path / "alterado.pdf"
    path.write_bytes(bytes(data))
    report = pdfsig(nss_db(tmp_path / "nss", sat_file("sat.certs/ARC_UAT_2022.crt")), path)
    assert "Signature is Valid." not in report


@pytest.mark.pki
def test_pdfsig_trusts_a_b_lta_sat_signature(tmp_path: Path, sat_efirma: firma.SigningIdentity, test_pki) -> None:  # type: ignore[no-untyped-def]
    sat_root = sat_file("sat.certs/ARC_UAT_2022.crt")
    trust = test_pki.trust(
        roots=(test_pki.root, *firma.load_certificates(sat_root)),
        intermediates=(test_pki.interm, *firma.load_certificates(sat_file("sat.certs/AC_UAT_2022.crt"))),
    )
    signed = firma.sign_pdf(make_pdf(), sat_efirma, settings=test_pki.settings(trust=trust))
    assert signed.level == "B-LTA"
    path = tmp_path / "respuesta-lta.pdf"
    path.write_bytes(signed.data)
    report = pdfsig(nss_db(tmp_path / "nss", sat_root, test_pki.root.dump()), path)
    # The e.firma signature is valid and trusted; poppler 22 lists the document timestamp
    # (ETSI.RFC3161) without verifying it.
    assert "Signer Certificate Common Name: ESCUELA KEMPER URGATE SA DE CV" in report
    assert report.count("Certificate Validation: Certificate is Trusted.") == 1, report
    assert "Signature Validation: Signature is Valid." in report
