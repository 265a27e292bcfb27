"""The institution seal with its key in a PKCS#11 token (SoftHSM2)."""

from __future__ import annotations

import pytest

import firma
from tests.firma.conftest import make_pdf
from tests.firma.test_levels import online_statuses
from tests.fixtures.pki import TestPki
from tests.fixtures.softhsm import SoftHsmToken

pytestmark = pytest.mark.pki


def test_seal_from_a_pkcs11_token_signs_b_lta(test_pki: TestPki, softhsm_token: SoftHsmToken) -> None:
    seal = firma.InstitutionSeal.from_pkcs11(
        softhsm_token.library, softhsm_token.token_label, softhsm_token.pin, softhsm_token.key_label,
        chain=[test_pki.interm],
    )
    try:
        assert seal.name == "MUNICIPIO DE PRUEBA - SELLO ELECTRONICO"
        first = seal.seal(make_pdf(), settings=test_pki.settings())
        second = seal.seal(first.data, settings=test_pki.settings(max_level="B-B"))
        assert first.level == "B-LTA"
        statuses = online_statuses(second.data, test_pki)
        assert len(statuses) == 2 and all(s.bottom_line for s in statuses), [s.pretty_print_details() for s in statuses]
    finally:
        seal.close()


def test_wrong_pin_is_a_clear_error(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(firma.SealUnavailable, match="PKCS#11") as info:
        firma.InstitutionSeal.from_pkcs11(softhsm_token.library, softhsm_token.token_label, "000000", "sello")
    assert "000000" not in info.value.message


def test_unknown_token_is_a_clear_error(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(firma.SealUnavailable):
        firma.InstitutionSeal.from_pkcs11(softhsm_token.library, "no-existe", softhsm_token.pin, "sello")
