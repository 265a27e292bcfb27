"""A demo PKI for the embedded default: root, issuing CA, institution seal, e.firma-like signers.

Built with ``cryptography`` and returned as bytes; the caller decides where the files go. The
signers' certificates carry the RFC in ``x500UniqueIdentifier`` and the CURP in ``serialNumber``
the way SAT's e.firma does, so the same checks apply to them. Never use it in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = ["DemoPki", "DemoSigner", "generate_demo_pki"]

#: x500UniqueIdentifier, where SAT writes the RFC.
UNIQUE_IDENTIFIER = ObjectIdentifier("2.5.4.45")


@dataclass(frozen=True)
class DemoSigner:
    """One signer of the demo: who, and the PKCS#12 (key + certificate + chain) to sign with."""

    name: str
    rfc: str
    curp: str | None
    pkcs12: bytes = field(repr=False)


@dataclass(frozen=True)
class DemoPki:
    """The demo hierarchy as bytes: PEM certificates and PKCS#12 bundles."""

    root_pem: bytes
    issuing_ca_pem: bytes
    seal_pkcs12: bytes = field(repr=False)
    signers: tuple[DemoSigner, ...] = ()


def _key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _name(common_name: str, organisation: str, *, rfc: str | None = None, curp: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
    ]
    if rfc:
        attributes.append(x509.NameAttribute(UNIQUE_IDENTIFIER, rfc))
    if curp:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, curp))
    return x509.Name(attributes)


def _certificate(
    subject: x509.Name,
    public_key: rsa.RSAPublicKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    now: datetime,
    days: int,
    ca: bool,
    path_length: int | None = None,
    eku: Sequence[ObjectIdentifier] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=not ca, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _bundle(
    label: str, key: rsa.RSAPrivateKey, cert: x509.Certificate, chain: list[x509.Certificate], password: str
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        label.encode("utf-8"), key, cert, chain, serialization.BestAvailableEncryption(password.encode("utf-8"))
    )


def generate_demo_pki(
    *,
    institution: str,
    seal_password: str,
    signers: Sequence[tuple[str, str, str | None]] = (),
    signer_password: str,
    institution_rfc: str = "MDE010101AA1",
    key_size: int = 2048,
    now: datetime | None = None,
) -> DemoPki:
    """Generate a demo root, an issuing CA, the institution seal and one certificate per signer.

    :param institution: the institution's name (in the CA and seal certificates).
    :param seal_password: password of the seal's PKCS#12.
    :param signers: ``(name, rfc, curp)`` per demo signer.
    :param signer_password: password of every signer's PKCS#12.
    :returns: the certificates (PEM) and PKCS#12 bundles as bytes.
    """
    moment = now or datetime.now(UTC)
    root_key, ca_key = _key(key_size), _key(key_size)
    root_name = _name(f"Raíz de demostración - {institution}", institution)
    ca_name = _name(f"AC emisora de demostración - {institution}", institution)
    root = _certificate(root_name, root_key.public_key(), root_name, root_key, now=moment, days=20 * 365, ca=True)
    issuing = _certificate(
        ca_name, ca_key.public_key(), root_name, root_key, now=moment, days=10 * 365, ca=True, path_length=0
    )
    chain = [issuing, root]
    seal_key = _key(key_size)
    seal_cert = _certificate(
        _name(f"Sello electrónico - {institution}", institution, rfc=institution_rfc),
        seal_key.public_key(), ca_name, ca_key, now=moment, days=3 * 365, ca=False,
        eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    people = []
    for name, rfc, curp in signers:
        key = _key(key_size)
        cert = _certificate(
            _name(name, institution, rfc=rfc, curp=curp), key.public_key(), ca_name, ca_key,
            now=moment, days=2 * 365, ca=False,
            eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        people.append(DemoSigner(name, rfc, curp, _bundle(rfc, key, cert, chain, signer_password)))
    return DemoPki(
        root_pem=root.public_bytes(serialization.Encoding.PEM),
        issuing_ca_pem=issuing.public_bytes(serialization.Encoding.PEM),
        seal_pkcs12=_bundle("sello", seal_key, seal_cert, chain, seal_password),
        signers=tuple(people),
    )
