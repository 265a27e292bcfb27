"""A pyHanko signer that keeps its private key loaded.

pyHanko's stock ``SimpleSigner`` keeps the key as DER and re-parses it on every signature; for
RSA, ``cryptography`` then re-validates the key, which costs about 40 ms of a 150 ms signature.
:class:`LoadedKeySigner` holds the ``cryptography`` key object instead and signs with it directly.
"""

from __future__ import annotations

from asn1crypto import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

__all__ = ["LoadedKeySigner"]


class LoadedKeySigner(Signer):
    """Signer over an in-memory ``cryptography`` private key (RSA, ECDSA, EdDSA)."""

    def __init__(
        self,
        signing_cert: x509.Certificate,
        private_key: PrivateKeyTypes,
        cert_registry: SimpleCertificateStore,
        *,
        embed_roots: bool = True,
    ) -> None:
        self._private_key = private_key
        super().__init__(signing_cert=signing_cert, cert_registry=cert_registry, embed_roots=embed_roots)

    def __repr__(self) -> str:  # never show key material
        return f"<LoadedKeySigner {self.signing_cert.subject.human_friendly if self.signing_cert else '?'}>"

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return self.sign_raw(data, digest_algorithm)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign ``data`` with the loaded key, following the certificate's signature mechanism."""
        mechanism_spec = self.get_signature_mechanism_for_digest(digest_algorithm)
        mechanism = mechanism_spec.signature_algo
        key = self._private_key
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if mechanism == "rsassa_pss" and isinstance(key, rsa.RSAPrivateKey):
            padding, hash_algo = process_pss_params(mechanism_spec["parameters"])
            return key.sign(data, padding, hash_algo)
        if mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        if mechanism in ("ed25519", "ed448") and isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
            return key.sign(data)
        raise SigningError(f"Signature mechanism {mechanism} is not supported for this key type")
