"""The command line of DESIGN.md."""

from __future__ import annotations

import sqlalchemy as sa

from oficialia.db import db
from oficialia.models import Department, Procedure, Role, User


def test_demo_seeds_a_municipality_and_is_idempotent(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "admin@demo.gob.mx" in first.output
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(Department.id))).scalar_one() >= 10
        assert db.session.execute(sa.select(sa.func.count(Procedure.id))).scalar_one() >= 12
        roles = set(db.session.execute(sa.select(User.role)).scalars())
    assert roles == set(Role)


def test_users_departments_and_tokens(app, runner):
    assert runner.invoke(args=["departments", "create", "OBRAS", "Obras Públicas"]).exit_code == 0
    assert runner.invoke(args=["departments", "create", "BACHEO", "Bacheo", "--parent", "OBRAS"]).exit_code == 0
    dup = runner.invoke(args=["departments", "create", "OBRAS", "Otra"])
    assert dup.exit_code != 0 and "Ya existe" in dup.output
    created = runner.invoke(args=["users", "create", "firma@x.mx", "--role", "signer", "--department", "OBRAS",
                                  "--password", "clave-segura-1", "--name", "Titular", "--rfc", "AAA010101AAA"])
    assert created.exit_code == 0, created.output
    token = runner.invoke(args=["tokens", "create", "firma@x.mx"]).output.split()[-1]
    assert token.startswith("op_")
    client = app.test_client()
    assert client.get("/api/v1/filings", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = runner.invoke(args=["users", "create", "y@x.mx", "--role", "staff", "--department", "NOPE",
                              "--password", "clave-segura-1"])
    assert bad.exit_code != 0 and "No existe el área" in bad.output
