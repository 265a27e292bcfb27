"""Revocation data fetched once and reused for a short while (per thread).

Checking a signer's certificate before signing and embedding validation data while signing
(B-LT/B-LTA) need the same OCSP responses and CRLs; the institution seal needs them for every
document. pyhanko-certvalidator caches what its fetchers fetch, so keeping one set of fetchers
for ``ttl`` seconds avoids fetching the same answers again and again. OCSP responses and CRLs
are meant to be cached (they carry their own validity), so a minute is a safe default.

The fetchers are kept per thread: their de-duplication uses asyncio events, which must not be
shared between the event loops of different threads.
"""

from __future__ import annotations

import threading
import time

from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

__all__ = ["shared_fetchers"]

_local = threading.local()


def shared_fetchers(timeout: float, ttl: float) -> Fetchers:
    """Fetchers (OCSP, CRL, certificates) reused by this thread for ``ttl`` seconds.

    :param timeout: seconds per request.
    :param ttl: seconds to reuse; ``0`` gives fresh fetchers (nothing reused).
    """
    if ttl <= 0:
        return RequestsFetcherBackend(per_request_timeout=timeout).get_fetchers()
    cache: dict[float, tuple[float, Fetchers]] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    now = time.monotonic()
    entry = cache.get(timeout)
    if entry is None or now - entry[0] > ttl:
        entry = (now, RequestsFetcherBackend(per_request_timeout=timeout).get_fetchers())
        cache[timeout] = entry
    return entry[1]
