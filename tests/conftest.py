"""Shared fixtures: a fresh app per test on a real database (PostgreSQL by default, SQLite when
``OFICIALIA_TEST_DATABASE=sqlite``), migrated once per session and wiped after each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from oficialia import auth
from oficialia.db import db
from oficialia.demo import seed_demo
from oficialia.models import Role, User
from tests.client import UploadTestClient
from workflows.logbook import ensure_head

# Werkzeug's test client leaves the temporary file it spools a large body to open: every test app
# uses one that closes it.
Flask.test_client_class = UploadTestClient

pytest_plugins = ["tests.fixtures.seaweed", "tests.fixtures.pki", "tests.fixtures.softhsm"]

IN_CI = os.environ.get("CI") == "true"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "clave-de-prueba-123"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "external-data"


def unavailable(reason: str) -> None:
    """Skip outside CI; under CI a missing service is a failure, never a skip."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this session's own: a SQLite file, or a new PostgreSQL database created
    on the server ``OFICIALIA_TEST_DATABASE`` names (so parallel runs never collide)."""
    wanted = os.environ.get("OFICIALIA_TEST_DATABASE", DEFAULT_PG)
    if wanted == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin_url = sa.make_url(wanted.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"oficialia_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        admin.dispose()
        unavailable(f"PostgreSQL is not reachable at {wanted}: {e}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The schema, built by the real migrations once per session."""
    from flask_migrate import upgrade

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test", "TESTING": True,
                      "INSTANCE_PATH": str(tmp_path_factory.mktemp("migrate"))})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


def _wipe(app: Flask) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
                conn.execute(sa.text("DELETE FROM filing_fts"))
                for name in tables:
                    conn.execute(sa.text(f"DELETE FROM {name}"))  # noqa: S608 - our own table names
        with db.session.begin():
            ensure_head(db.session)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app_config(migrated: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True, "DATABASE_URL": migrated, "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"), "STORAGE_URL": str(tmp_path / "storage"),
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "PUBLIC_URL": "http://oficialia.test",
        "SERVER_NAME": None,
    }


class RecordingDispatcher:
    """Stands in for the job queue in tests that are not about jobs: records what was queued."""

    def __init__(self) -> None:
        self.queued: list[int] = []
        self.jobs: list[tuple[str, tuple[Any, ...]]] = []

    def enqueue_ocr(self, document_id: int) -> bool:
        self.queued.append(document_id)
        return True

    def is_live(self, document_id: int) -> bool:
        return False

    def enqueue(self, func, *args, job_id: str) -> bool:
        self.jobs.append((func.__name__, args))
        return True


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config)
    application.extensions["dispatcher"] = RecordingDispatcher()
    _wipe(application)
    yield application
    _wipe(application)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis database, emptied before and after the test."""
    from redis import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("OFICIALIA_TEST_REDIS", "redis://127.0.0.1:6379/15")
    conn = Redis.from_url(url, socket_connect_timeout=3)
    try:
        conn.flushdb()
    except RedisError as e:
        conn.close()
        unavailable(f"Redis is not reachable at {url}: {e}")
    try:
        yield url
    finally:
        conn.flushdb()
        conn.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def demo(app: Flask) -> None:
    """The demo municipality: departments, procedures and one user per role."""
    with app.app_context():
        seed_demo(db.session)
        db.session.commit()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    counter = iter(range(1, 10_000))

    def make(role: Role = Role.CITIZEN, *, email: str | None = None, department: str | None = None,
             name: str | None = None, rfc: str | None = None) -> User:
        with app.app_context():
            user = auth.create_user(db.session, email=email or f"{role.value}{next(counter)}@prueba.mx",
                                    name=name or f"Usuario {role.value}", role=role, password=PASSWORD,
                                    department_code=department, rfc=rfc)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


@pytest.fixture
def make_token(app: Flask) -> Callable[[User], str]:
    def make(user: User) -> str:
        with app.app_context():
            token = auth.create_token(db.session, db.session.get(User, user.id), "pruebas")
            db.session.commit()
            return token

    return make


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], None]:
    def do(user: User) -> None:
        response = client.post("/entrar", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)

    return do
