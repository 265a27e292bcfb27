"""Make asn1crypto read SAT certificates.

SAT (Mexico's tax authority) writes the RFC into ``x500UniqueIdentifier`` (OID 2.5.4.45) as a
PrintableString, while asn1crypto 1.5.1 expects the BIT STRING of X.520, so every SAT e.firma and
its issuing CAs fail to parse ("tag should have been 3, but 19 was found"; wbond/asn1crypto#228,
still open). Reading the attribute as a DirectoryString accepts SAT's strings (and UTF8Strings).
Applied once, when :mod:`firma` is imported.
"""

from __future__ import annotations

from asn1crypto import x509

__all__ = ["apply_sat_fix"]


def apply_sat_fix() -> None:
    """Parse ``x500UniqueIdentifier`` as a DirectoryString (idempotent)."""
    x509.NameTypeAndValue._oid_specs["unique_identifier"] = x509.DirectoryString


apply_sat_fix()
