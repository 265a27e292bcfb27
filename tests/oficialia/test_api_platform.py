"""The API platform: the OpenAPI document and its docs page, channel tokens (scopes, channels,
CLI and admin page), schema errors, rate limits."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from oficialia import tokens
from oficialia.db import db
from oficialia.models import ApiToken, Channel, Filing, Role, User
from tests.factories import pdf_bytes


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _file(client, token, **fields):
    data = {"subject": "Luminaria apagada", "body": "Frente al parque.", "filer_name": "Ana López",
            "filer_email": "ana@example.mx", "procedure": "SP-ALUMB"} | fields
    data["files"] = [(io.BytesIO(pdf_bytes()), "escrito.pdf")]
    return client.post("/api/v1/filings", data=data, headers=_auth(token), content_type="multipart/form-data")


@pytest.fixture
def issue(app):
    """Issue a channel token for a user: ``issue(user, scopes=(), channel=None)``."""

    def make(user, scopes=(), channel=None):
        with app.app_context():
            _row, token = tokens.issue_token(db.session, db.session.get(User, user.id), name="pruebas",
                                             scopes=scopes, channel=channel)
            db.session.commit()
            return token

    return make


# --- the document -------------------------------------------------------------------------------


def test_openapi_document_covers_the_whole_api(client, demo):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path, method in [("/api/v1/filings", "post"), ("/api/v1/filings", "get"), ("/api/v1/filings/{folio}", "get"),
                         ("/api/v1/filings/{folio}/actions", "post"), ("/api/v1/track/{folio}", "get"),
                         ("/api/v1/procedures", "get"), ("/api/v1/departments", "get"),
                         ("/api/v1/logbook/verify", "get"), ("/api/v1/documents/{document_id}", "get"),
                         ("/api/v1/filings/{folio}/messages", "post"), ("/api/v1/notifications", "get")]:
        assert method in paths[path], (path, method)
    create = paths["/api/v1/filings"]["post"]
    form = create["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"subject", "channel", "files", "filer_kind"} <= set(form["properties"])
    assert create["x-scopes"] == ["file"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    assert "429" in create["responses"] and "Retry-After" in create["responses"]["429"]["headers"]
    # enums come from the code's own enums
    assert set(doc["components"]["schemas"]["Channel"]["enum"]) == {c.value for c in Channel}
    assert "security" not in paths["/api/v1/procedures"]["get"]


def test_document_follows_the_code_that_validates(app, client, demo):
    """A new field's limit in the request model changes the validation and the document alike."""
    schema = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/filings"]["get"]
    limit = next(p for p in schema["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200
    assert limit["schema"]["minimum"] == 1


def test_docs_page_loads_the_renderer_without_inline_script(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in html and 'data-spec-url="/api/v1/openapi.json"' in html
    assert not re.search(r"<script>(?!</script>)", html) and "<script>" not in html
    assert "script-src" not in page.headers["Content-Security-Policy"]  # scripts: 'self' only
    script = client.get("/static/js/api-docs.js")
    assert script.status_code == 200
    script.close()


def test_schema_errors_are_json_spanish_with_every_field(client, demo, make_user, make_token):
    token = make_token(make_user(Role.CLERK, department="OP"))
    response = client.get("/api/v1/filings?limit=0&status=volando", headers=_auth(token))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid_input"
    assert {f["field"] for f in error["fields"]} == {"limit", "status"}
    assert all(f["message"] for f in error["fields"])
    not_json = client.post("/api/v1/filings/OP-2026-000001/actions", data="x", headers=_auth(token),
                           content_type="text/plain")
    assert not_json.status_code in (404, 422)
    assert "error" in not_json.json


# --- scopes ------------------------------------------------------------------------------------


def test_a_token_without_the_scope_gets_403_in_spanish(client, demo, make_user, issue):
    clerk = make_user(Role.CLERK, department="OP")
    reader = issue(clerk, scopes=["track"])
    response = _file(client, reader)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert "alcance" in response.json["error"]["message"] and "file" in response.json["error"]["message"]
    assert client.get("/api/v1/filings", headers=_auth(reader)).status_code == 200
    filer = issue(clerk, scopes=["file"])
    folio = _file(client, filer).json["folio"]
    assert client.get("/api/v1/filings", headers=_auth(filer)).status_code == 403
    assert client.post(f"/api/v1/filings/{folio}/actions", json={"action": "route", "department": "SP"},
                       headers=_auth(filer)).status_code == 403
    actor = issue(clerk, scopes=["act"])
    assert client.post(f"/api/v1/filings/{folio}/actions", json={"action": "route", "department": "SP"},
                       headers=_auth(actor)).status_code == 200


def test_scopes_never_exceed_the_role(app, demo, make_user):
    citizen = make_user(Role.CITIZEN)
    with app.app_context():
        user = db.session.get(User, citizen.id)
        with pytest.raises(Exception, match="no permite"):
            tokens.issue_token(db.session, user, name="x", scopes=["sign"])
        db.session.rollback()
        row, _ = tokens.issue_token(db.session, user, name="x")
        assert row.scope_list == ["file", "track"]


def test_cli_tokens_with_scopes_and_channel(app, runner, demo):
    out = runner.invoke(args=["tokens", "create", "oficialia@demo.gob.mx", "--scope", "file", "--scope", "track",
                              "--channel", "chatbot", "--name", "Chatbot"])
    assert out.exit_code == 0, out.output
    token = out.output.split()[-1]
    assert token.startswith("op_")
    default = runner.invoke(args=["tokens", "create", "oficialia@demo.gob.mx"]).output.split()[-1]
    with app.app_context():
        rows = {r.token_hash[:8]: r for r in db.session.execute(sa.select(ApiToken)).scalars()}
        bound = next(r for r in rows.values() if r.channel is Channel.CHATBOT)
        assert bound.scope_list == ["file", "track"] and bound.name == "Chatbot"
        unbound = next(r for r in rows.values() if r.channel is None)
        assert unbound.scope_list == ["file", "track", "act"]  # all of the clerk's role
    bad = runner.invoke(args=["tokens", "create", "oficialia@demo.gob.mx", "--scope", "volar"])
    assert bad.exit_code != 0 and "Alcance desconocido" in bad.output
    listed = runner.invoke(args=["tokens", "list"]).output
    assert "chatbot" in listed
    token_id = next(line for line in listed.splitlines() if "chatbot" in line).split("\t")[0]
    assert "revocado" in runner.invoke(args=["tokens", "revoke", token_id]).output
    client = app.test_client()
    ids = {t.split("\t")[0]: t for t in runner.invoke(args=["tokens", "list"]).output.splitlines()}
    assert "revocado" in ids[token_id]
    assert client.get("/api/v1/filings", headers=_auth(token)).status_code == 401
    assert client.get("/api/v1/filings", headers=_auth(default)).status_code == 200


def test_every_channel_is_recorded_on_its_filings(app, client, demo, make_user, issue, login):
    """GIVEN one token per API channel WHEN each files THEN each filing records its token's channel,
    and the counts per channel show in the API listing, the database and the statistics."""
    clerk = make_user(Role.CLERK, department="OP")
    for channel in tokens.TOKEN_CHANNELS:
        token = issue(clerk, channel=channel.value)
        response = _file(client, token)
        assert response.status_code == 201, response.json
    # the two non-API channels, through their own doors: the portal form and the window (API, clerk)
    plain = issue(clerk)
    assert _file(client, plain, channel="ventanilla").status_code == 201
    assert client.post("/presentar", data={"subject": "Portal", "body": "Desde la web", "filer_name": "Eva",
                                           "filer_email": "eva@example.mx"}).status_code == 302
    listing = client.get("/api/v1/filings?limit=200", headers=_auth(plain)).json["filings"]
    counted: dict[str, int] = {}
    for f in listing:
        counted[f["channel"]] = counted.get(f["channel"], 0) + 1
    assert counted == {c.value: 1 for c in Channel}
    with app.app_context():
        rows = dict(db.session.execute(sa.select(Filing.channel, sa.func.count()).group_by(Filing.channel)).all())
        assert rows == {c: 1 for c in Channel}
    # and in the statistics, through the API and the dashboard's export
    auditor = make_user(Role.AUDITOR, department="CONTRA")
    stats = client.get("/api/v1/stats?by=channel", headers=_auth(issue(auditor))).json["rows"]
    assert {r["key"]: r["filings"] for r in stats} == {c.value: 1 for c in Channel}
    login(auditor)
    exported = client.get("/estadisticas/por-canal.json").json["rows"]
    assert {r["key"]: r["filings"] for r in exported if r["filings"]} == {c.value: 1 for c in Channel}


def test_a_channel_token_refuses_another_channel(client, demo, make_user, issue):
    token = issue(make_user(Role.CLERK, department="OP"), channel="telefono")
    response = _file(client, token, channel="app")
    assert response.status_code == 422 and response.json["error"]["field"] == "channel"
    assert _file(client, token, channel="telefono").json["folio"]


def test_admin_page_creates_shows_once_and_revokes(client, demo, make_user, login):
    admin = make_user(Role.ADMIN)
    login(admin)
    page = client.post("/admin/tokens", data={"email": "oficialia@demo.gob.mx", "name": "App móvil",
                                              "scopes": ["file", "track"], "channel": "app"})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    token = re.search(r'id="new-token">(op_[\w-]+)<', html).group(1)
    assert client.get("/api/v1/filings", headers=_auth(token)).status_code == 200
    again = client.get("/admin/tokens").get_data(as_text=True)
    assert token not in again and token[:10] in again and "Aplicación móvil" in again
    token_id = re.search(r'/admin/tokens/(\d+)/revocar', again).group(1)
    assert client.post(f"/admin/tokens/{token_id}/revocar").status_code == 302
    assert client.get("/api/v1/filings", headers=_auth(token)).status_code == 401


def test_admin_pages_are_for_admins_only(client, demo, make_user, login):
    login(make_user(Role.CLERK, department="OP"))
    assert client.get("/admin/tokens").status_code == 403
    assert client.get("/admin/webhooks").status_code == 403


# --- rate limits -------------------------------------------------------------------------------


@pytest.mark.redis
def test_rate_limit_per_token_answers_429_with_retry_after(app, app_config, redis_url):
    from app import create_app
    from oficialia.demo import seed_demo

    limited_app = create_app(app_config | {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": redis_url,
                                   "RATELIMIT_API_TOKEN": "3 per minute", "RATELIMIT_API_ADDRESS": "5 per minute"})
    with limited_app.app_context():
        seed_demo(db.session)
        user = User(email="lector@prueba.mx", name="Lector", role=Role.AUDITOR)
        db.session.add(user)
        db.session.flush()
        one = tokens.issue_token(db.session, user, name="a")[1]
        two = tokens.issue_token(db.session, user, name="b")[1]
        db.session.commit()
    client = limited_app.test_client()
    try:
        _exercise_limits(client, one, two)
    finally:
        with limited_app.app_context():
            db.engine.dispose()


def _exercise_limits(client, one, two):
    for _ in range(3):
        assert client.get("/api/v1/filings", headers=_auth(one)).status_code == 200
    limited = client.get("/api/v1/filings", headers=_auth(one))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json["error"]["code"] == "http_429" and "Demasiadas solicitudes" in limited.json["error"]["message"]
    # another token has its own budget, until the address's budget runs out
    assert client.get("/api/v1/filings", headers=_auth(two)).status_code == 200
    later = [client.get("/api/v1/filings", headers=_auth(two)).status_code for _ in range(2)]
    assert 429 in later  # 5 per minute from one address, whatever the token
    assert client.get("/api/v1/procedures", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200
