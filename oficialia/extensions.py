"""Flask extensions, created unbound and bound in ``create_app``; per-app state lives in
``app.extensions``."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

from storage import ObjectStore, open_store

login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address)


def get_store() -> ObjectStore:
    """The app's object store, opened on first use (an S3 store checks its bucket then)."""
    store: ObjectStore | None = current_app.extensions.get("storage")
    if store is None:
        cfg = current_app.config
        store = open_store(cfg["STORAGE_URL"], retention_days=int(cfg["STORAGE_RETENTION_DAYS"]),
                           retention_mode=str(cfg["STORAGE_RETENTION_MODE"]))
        current_app.extensions["storage"] = store
    return store
