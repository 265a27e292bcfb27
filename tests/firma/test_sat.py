"""Regression test for the SAT certificate fix (wbond/asn1crypto#228)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509

import firma  # noqa: F401  (importing firma applies the fix)
from tests.firma.conftest import SAT

CERTIFICATES = sorted(p for p in SAT.rglob("*") if p.suffix in {".cer", ".crt"})


def test_the_fix_is_applied_on_import() -> None:
    assert x509.NameTypeAndValue._oid_specs["unique_identifier"] is x509.DirectoryString


@pytest.mark.parametrize("path", CERTIFICATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sat_certificate_parses(path: Path) -> None:
    (cert,) = firma.load_certificates(path.read_bytes())
    # Both names are read in full: SAT puts x500UniqueIdentifier in subjects and issuers.
    assert cert.subject.native and cert.issuer.native
    assert cert.subject.human_friendly


def test_rfc_and_curp_come_from_the_certificate(sat_efirma: firma.SigningIdentity) -> None:
    assert sat_efirma.rfc == "EKU9003173C9"
    assert sat_efirma.curp == "VADA800927HSRSRL05"
    assert sat_efirma.name == "ESCUELA KEMPER URGATE SA DE CV"
    assert sat_efirma.issuer == "AC UAT"
    assert sat_efirma.not_after.year == 2027 and sat_efirma.not_after.tzinfo is not None
