"""Signing and verification of PDFs (PAdES with pyHanko): bytes in, bytes out.

A leaf package: no Flask, no database. Signing, sealing and verification arrive with the
advanced electronic signature work; the package exists now so the layout is stable.
"""

__all__: list[str] = []
