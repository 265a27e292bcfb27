"""The demo PKI: a hierarchy whose signers pass the same checks as a SAT e.firma."""

from __future__ import annotations

import firma
from firma.pki import generate_demo_pki
from tests.firma.conftest import make_pdf


def test_demo_pki_signers_and_seal_sign_and_chain_to_the_demo_root() -> None:
    demo = generate_demo_pki(
        institution="Municipio Demo",
        seal_password="sello-123",
        signers=[("Ana Pérez Ramírez", "PERA800101AB1", "PERA800101MDFRRN01")],
        signer_password="firma-123",
    )
    trust = firma.TrustSettings(
        roots=tuple(firma.load_certificates(demo.root_pem)),
        intermediates=tuple(firma.load_certificates(demo.issuing_ca_pem)),
        allow_fetching=False,
        require_trusted=True,
    )
    (signer,) = demo.signers
    identity = firma.load_pkcs12(signer.pkcs12, "firma-123")
    assert (identity.name, identity.rfc, identity.curp) == ("Ana Pérez Ramírez", "PERA800101AB1", "PERA800101MDFRRN01")
    firma.check_identity(identity, expected_rfc="PERA800101AB1", trust=trust)
    seal = firma.InstitutionSeal.from_pkcs12(demo.seal_pkcs12, "sello-123")
    assert seal.name == "Sello electrónico - Municipio Demo"
    signed = firma.sign_pdf(make_pdf(), identity, settings=firma.SigningSettings(trust=trust))
    sealed = seal.seal(signed.data, settings=firma.SigningSettings(trust=trust))
    assert sealed.signer_name == seal.name
    assert "sello-123" not in repr(demo) and "firma-123" not in repr(signer)
