"""Schema-driven run: schemathesis generates requests from /api/v1/openapi.json (valid and
invalid ones) against the app, authenticated with an admin's token, and checks that nothing
answers 500 and that every answer (status, content type, body) is the one the document promises."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oficialia.models import Role
from tests.factories import pdf_bytes

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: examples per operation and mode; bounded so the whole run stays within a couple of minutes
EXAMPLES = 25


STATUSES: dict[str, int] = {}


def _run(operation, headers, mode, path_parameters=None):
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        key = f"{operation.method.upper()} {operation.path} {response.status_code}"
        STATUSES[key] = STATUSES.get(key, 0) + 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # nothing to break: an operation without parameters or body has no invalid requests
        assert mode is GenerationMode.NEGATIVE


@pytest.mark.slow
def test_api_conforms_to_its_openapi_document(app, client, demo, make_user, make_token):
    admin = make_user(Role.ADMIN)
    token = make_token(admin)
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # one real filing made through the schema too, so its 201 body is checked and later runs have a folio
    create = schema["/api/v1/filings"]["POST"]
    case = create.Case(media_type="multipart/form-data", body={
        "subject": "Bache en la calle", "body": "Hay un bache frente al número 12.", "filer_name": "Ana",
        "channel": "chatbot", "files": [pdf_bytes()]})
    filed = case.call(headers=headers)
    case.validate_response(filed, checks=CHECKS)
    assert filed.status_code == 201, filed.text
    folio, document_id = filed.json()["folio"], filed.json()["documents"][0]["id"]
    assert len(operations) >= 16
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, headers, mode)
        params = {p.name for p in operation.path_parameters}
        if params:  # also on a real filing, so success answers are checked too
            real = {"folio": folio, "document_id": document_id}
            _run(operation, headers, GenerationMode.POSITIVE, {k: real[k] for k in params if k in real})
    print("\n".join(f"{n:5d} {k}" for k, n in sorted(STATUSES.items())))
    # the run reached real successes, not only refusals
    assert STATUSES["GET /api/v1/filings/{folio} 200"] and STATUSES["GET /api/v1/documents/{document_id} 200"]
