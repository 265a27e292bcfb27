"""The test client every test app uses (set in ``conftest.py``)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


class UploadTestClient(FlaskClient):
    """Flask's test client, closing the request body once the application has answered.

    Werkzeug's test client closes the temporary file it spools a large body to only when it follows
    redirects. Inside ``with client:`` the body is closed with the preserved contexts instead, so
    the test may still read the request afterwards.
    """

    def open(self, *args: Any, buffered: bool = False, follow_redirects: bool = False,
             **kwargs: Any) -> TestResponse:
        response = super().open(*args, buffered=buffered, follow_redirects=follow_redirects, **kwargs)
        for answered in (*response.history, response):
            body = answered.request.environ.get("wsgi.input")
            if body is None:
                continue
            if self.preserve_context:
                self._context_stack.callback(body.close)
            else:
                body.close()
        return response
