"""No temporary file an upload spooled outlives its request: neither those of the form parser,
whatever stopped the parse, nor the one the test client spools a large body to."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Any

import pytest
import werkzeug.test
import werkzeug.wrappers.request

SPOOLED = 600_000  # over Werkzeug's 500 KiB threshold: spooled to a temporary file on disk


def _multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + b"--B--\r\n"


def _recording(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[IO[bytes]]:
    """Every stream ``module.name`` creates from now on."""
    created: list[IO[bytes]] = []
    original: Callable[..., IO[bytes]] = getattr(module, name)

    def record(*args: Any, **kwargs: Any) -> IO[bytes]:
        created.append(original(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(module, name, record)
    return created


@pytest.mark.parametrize("body, status", [
    # A field over MAX_FORM_MEMORY_SIZE (1 MiB) after the file: Werkzeug raises 413 mid-parse.
    (_multipart(("files", "a.pdf", b"x" * SPOOLED), ("body", None, b"y" * (1024 * 1024 + 1))), 413),
    # A truncated body: Werkzeug's parser gives up silently and the form arrives empty.
    (_multipart(("files", "a.pdf", b"x" * SPOOLED))[:-20], None),
], ids=["field-over-the-limit", "truncated"])
def test_streams_of_an_interrupted_parse_are_closed(client, monkeypatch, body, status):
    spooled = _recording(monkeypatch, werkzeug.wrappers.request, "default_stream_factory")
    response = client.post("/presentar", input_stream=io.BytesIO(body), content_length=len(body),
                           content_type="multipart/form-data; boundary=B")
    assert status is None or response.status_code == status
    assert spooled and all(stream.closed for stream in spooled)


def test_uploaded_files_are_closed_after_the_request(client, monkeypatch):
    spooled = _recording(monkeypatch, werkzeug.wrappers.request, "default_stream_factory")
    client.post("/presentar", data={"files": [(io.BytesIO(b"x" * SPOOLED), "a.pdf")]},
                content_type="multipart/form-data")
    assert spooled and all(stream.closed for stream in spooled)


def test_the_test_client_closes_the_body_it_spooled(client, monkeypatch):
    bodies = _recording(monkeypatch, werkzeug.test, "TemporaryFile")
    response = client.post("/presentar", data={"files": [(io.BytesIO(b"x" * SPOOLED), "a.pdf")]},
                           content_type="multipart/form-data")
    assert response.status_code < 500
    assert bodies and all(body.closed for body in bodies)


def test_inside_with_client_the_body_is_closed_with_the_preserved_request(client, monkeypatch):
    from flask import request

    bodies = _recording(monkeypatch, werkzeug.test, "TemporaryFile")
    with client:
        client.post("/presentar", data={"files": [(io.BytesIO(b"x" * SPOOLED), "a.pdf")]},
                    content_type="multipart/form-data")
        assert request.files["files"].filename == "a.pdf"
        assert bodies and not any(body.closed for body in bodies)
    assert all(body.closed for body in bodies)
