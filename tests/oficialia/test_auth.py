"""Accounts: hashed passwords, throttled sign-in, hashed API tokens, CSRF on forms."""

from __future__ import annotations

import sqlalchemy as sa

from oficialia.db import db
from oficialia.models import ApiToken, Role, User
from tests.conftest import PASSWORD


def test_passwords_are_argon2_hashed(app, make_user):
    user = make_user(Role.CITIZEN)
    with app.app_context():
        stored = db.session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_account_locks_after_repeated_failures(client, app, make_user):
    user = make_user(Role.CITIZEN)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert client.post("/entrar", data={"email": user.email, "password": "mala-clave-123"}).status_code == 401
    locked = client.post("/entrar", data={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Demasiados intentos" in locked.get_data(as_text=True)


def test_unknown_email_and_wrong_password_read_the_same(client, make_user):
    user = make_user(Role.CITIZEN)
    a = client.post("/entrar", data={"email": user.email, "password": "incorrecta-123"})
    b = client.post("/entrar", data={"email": "nadie@prueba.mx", "password": "incorrecta-123"})
    assert a.status_code == b.status_code == 401
    assert "Correo o contraseña incorrectos" in a.get_data(as_text=True)
    assert "Correo o contraseña incorrectos" in b.get_data(as_text=True)


def test_tokens_are_stored_hashed(app, make_user, make_token):
    token = make_token(make_user(Role.CLERK))
    with app.app_context():
        rows = db.session.execute(sa.select(ApiToken)).scalars().all()
    assert len(rows) == 1 and token not in (rows[0].token_hash, rows[0].prefix)


def test_revoked_token_is_refused(client, app, make_user, make_token):
    token = make_token(make_user(Role.CLERK))
    assert client.get("/api/v1/filings", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.app_context():
        db.session.execute(sa.update(ApiToken).values(revoked_at=sa.func.now()))
        db.session.commit()
    assert client.get("/api/v1/filings", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_forms_require_csrf(app_config, make_user):
    from app import create_app

    app = create_app(app_config | {"WTF_CSRF_ENABLED": True})
    response = app.test_client().post("/entrar", data={"email": "a@b.mx", "password": "x"})
    assert response.status_code == 400
    assert "formulario" in response.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


def test_signup_signin_and_signout(client):
    response = client.post("/registro", data={"name": "Rosa Díaz", "email": "rosa@correo.mx",
                                              "password": "una-clave-larga", "password2": "una-clave-larga"})
    assert response.status_code == 302
    assert client.get("/mis-tramites").status_code == 200
    client.post("/salir")
    assert client.get("/mis-tramites").status_code == 401
    short = client.post("/registro", data={"name": "X", "email": "x@correo.mx", "password": "corta",
                                           "password2": "corta"})
    assert short.status_code == 422 and "al menos 10" in short.get_data(as_text=True)
