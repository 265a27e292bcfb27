"""Loading identities and the checks made before anything is signed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import firma
from tests.firma.conftest import SAT_PASSWORD, sat_file

Loader = Callable[[str, str], firma.SigningIdentity]


def test_sat_efirma_passes_every_check(sat_efirma: firma.SigningIdentity, sat_trust: firma.TrustSettings) -> None:
    firma.check_identity(sat_efirma, expected_rfc="eku9003173c9", trust=sat_trust)


def test_repr_never_shows_the_key(sat_efirma: firma.SigningIdentity) -> None:
    text = repr(sat_efirma)
    assert "private_key" not in text and "KEY" not in text.upper().replace("KEMPER", "")


def test_wrong_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(firma.WrongPassword) as info:
        firma.load_sat_pair(sat_file("fake-fiel/EKU9003173C9.cer"), sat_file("fake-fiel/EKU9003173C9.key"), "otra-123")
    assert "otra-123" not in info.value.message
    assert info.value.message == "La contraseña de la clave privada es incorrecta."
    assert info.value.http_status == 400


def test_cer_with_another_credentials_key_is_refused() -> None:
    with pytest.raises(firma.KeyMismatch, match="no corresponde al certificado"):
        firma.load_sat_pair(
            sat_file("fake-fiel/EKU9003173C9.cer"), sat_file("FIEL_AAA010101AAA/private_key.key"), SAT_PASSWORD
        )


def test_files_that_are_not_credentials_are_refused() -> None:
    with pytest.raises(firma.InvalidCredential, match=r"\.cer"):
        firma.load_sat_pair(b"not a certificate", sat_file("fake-fiel/EKU9003173C9.key"), SAT_PASSWORD)
    with pytest.raises(firma.InvalidCredential, match=r"\.key"):
        firma.load_sat_pair(sat_file("fake-fiel/EKU9003173C9.cer"), b"%PDF-1.7 junk", SAT_PASSWORD)
    with pytest.raises(firma.WrongPassword, match="PKCS#12"):
        firma.load_pkcs12(b"junk", "x")


def test_expired_efirma_is_refused(load_sat: Loader) -> None:
    identity = load_sat("FIEL_AAA010101AAA/certificate.cer", "FIEL_AAA010101AAA/private_key.key")
    with pytest.raises(firma.CertificateExpired, match="venció el 15/05/2021"):
        firma.check_identity(identity, expected_rfc="AAA010101AAA")


def test_not_yet_valid_is_refused(sat_efirma: firma.SigningIdentity) -> None:
    with pytest.raises(firma.CertificateNotYetValid, match="a partir del 18/05/2023"):
        firma.check_identity(sat_efirma, expected_rfc=None, at=datetime(2020, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("cer", "key"),
    [
        ("fake-csd/EKU9003173C9.cer", "fake-csd/EKU9003173C9.key"),
        ("CSD01_AAA010101AAA/certificate.cer", "CSD01_AAA010101AAA/private_key.key"),
    ],
)
def test_csd_is_not_an_efirma(load_sat: Loader, cer: str, key: str) -> None:
    with pytest.raises(firma.CsdNotEfirma) as info:
        firma.check_identity(load_sat(cer, key), expected_rfc=None)
    assert info.value.message == "Este certificado es un sello digital (CSD), no una e.firma."


def test_rfc_must_match_the_profile(sat_efirma: firma.SigningIdentity) -> None:
    with pytest.raises(firma.RfcMismatch, match=r"\(EKU9003173C9\) no coincide") as info:
        firma.check_identity(sat_efirma, expected_rfc="XAXX010101000")
    assert info.value.http_status == 403


def test_pkcs12_round_trip(sat_efirma: firma.SigningIdentity) -> None:
    from cryptography import x509 as cx509

    cert = cx509.load_der_x509_certificate(sat_efirma.certificate.dump())
    data = pkcs12.serialize_key_and_certificates(
        b"efirma", sat_efirma.private_key,  # type: ignore[arg-type]
        cert, None, serialization.BestAvailableEncryption(b"clave-p12"),
    )
    identity = firma.load_pkcs12(data, "clave-p12")
    assert identity.rfc == "EKU9003173C9" and identity.serial == sat_efirma.serial
    with pytest.raises(firma.WrongPassword):
        firma.load_pkcs12(data, "otra")
