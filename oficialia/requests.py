"""The request class: it leaves no spooled upload open once a request is over.

Werkzeug spools every multipart file part over 500 KiB to a temporary file and does not close it
on every path; one left open is closed later by the garbage collector, which warns about it
during whatever code then happens to run.
"""

from __future__ import annotations

from typing import IO, Any

from flask import Request


class UploadRequest(Request):
    """A request that closes every stream its form parser created, not only those in ``files``.

    When parsing stops half-way (a field over ``MAX_FORM_MEMORY_SIZE``, too many parts, a
    truncated body) Werkzeug drops the streams it already spooled: they never reach ``files``, so
    ``close()`` (which Flask calls at the end of every request) would not close them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spooled: list[IO[bytes]] = []

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        stream = super()._get_file_stream(total_content_length, content_type, filename, content_length)
        self._spooled.append(stream)
        return stream

    def close(self) -> None:
        """Close the uploaded files and every other stream the parser created."""
        try:
            super().close()
        finally:
            spooled, self._spooled = self._spooled, []
            for stream in spooled:
                stream.close()
