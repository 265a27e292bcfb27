"""The floor under the intake benchmark: a bare Flask app that receives the same multipart POST
as ``POST /api/v1/filings`` and only reads its fields and files, served by the same gunicorn.

What any Flask view pays for a 200 KB upload before doing any work of its own (HTTP, WSGI,
multipart parsing), so the intake report can tell that cost from the product's own.
"""

from __future__ import annotations

import itertools

from flask import Flask, request
from flask.typing import ResponseReturnValue


def create_app() -> Flask:
    app = Flask(__name__)
    numbers = itertools.count(1)

    @app.post("/api/v1/filings")
    def receive() -> ResponseReturnValue:
        files = [f.read() for f in request.files.getlist("files")]
        return {"folio": f"FLOOR-{next(numbers)}", "subject": request.form.get("subject", ""),
                "bytes": sum(len(f) for f in files)}, 201

    @app.get("/api/v1/departments")
    def ready() -> ResponseReturnValue:
        return {"departments": []}

    return app
