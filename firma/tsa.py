"""RFC 3161 timestamps over one kept-alive HTTP connection per thread.

pyHanko's stock HTTP timestamper opens a new client session (and TLS context) for every request
and, being created per signature, asks the TSA for a dummy token every time to estimate the
signature's size. :func:`timestamper` keeps one timestamper per thread and TSA: one
``requests.Session`` (connection reuse) and the size estimate from the first dummy token.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref

import requests
from asn1crypto import tsp
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers

__all__ = ["SessionTimeStamper", "timestamp_digest", "timestamper"]

_local = threading.local()
#: a kept timestamper is replaced after this long (the TSA's certificate may change)
_MAX_AGE = 3600.0


class SessionTimeStamper(TimeStamper):
    """A TSA client over a kept-alive ``requests.Session``."""

    def __init__(self, url: str, *, timeout: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        # Close the kept connection when the timestamper goes (e.g. with its thread), instead of
        # leaving the socket to the garbage collector.
        weakref.finalize(self, self._session.close)

    def _post(self, data: bytes) -> tsp.TimeStampResp:
        try:
            response = self._session.post(
                self.url, data=data, headers=set_tsp_headers({}), timeout=self.timeout
            )
            response.raise_for_status()
        except requests.RequestException as e:
            raise TimestampRequestError("Error in communication with timestamp server") from e
        if response.headers.get("Content-Type") != "application/timestamp-reply":
            raise TimestampRequestError("Timestamp server response is malformed.")
        return tsp.TimeStampResp.load(response.content)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return await asyncio.to_thread(self._post, req.dump())


def timestamper(url: str, timeout: float) -> SessionTimeStamper:
    """This thread's timestamper for ``url`` (created on first use, renewed after an hour)."""
    kept: dict[tuple[str, float], tuple[float, SessionTimeStamper]] | None = getattr(_local, "kept", None)
    if kept is None:
        kept = _local.kept = {}
    now = time.monotonic()
    entry = kept.get((url, timeout))
    if entry is None or now - entry[0] > _MAX_AGE:
        entry = (now, SessionTimeStamper(url, timeout=timeout))
        kept[(url, timeout)] = entry
    return entry[1]


def timestamp_digest(digest: bytes, *, tsa_url: str, timeout: float = 10.0, md_algorithm: str = "sha256") -> bytes:
    """An RFC 3161 timestamp token (DER ``ContentInfo``) over ``digest`` from the TSA at ``tsa_url``.

    :param digest: the hash of what is timestamped (``md_algorithm``, SHA-256 by default).
    :raises TimestampFailed: the TSA did not answer or refused.
    """
    from .errors import TimestampFailed

    try:
        token = asyncio.run(timestamper(tsa_url, timeout).async_timestamp(digest, md_algorithm))
    except (TimestampRequestError, ValueError) as e:
        raise TimestampFailed() from e
    return bytes(token.dump())
