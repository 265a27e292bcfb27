"""Channel tokens: API tokens with scopes and a channel, issued and revoked by admins.

A token carries its user's role (what the role may not do, no scope grants) and, on top, a set
of **scopes** that narrow what the token may do:

========  ==================================================================================
scope     allows
========  ==================================================================================
file      present filings (``POST /filings``) and write in the filer's thread
track     read filings, their documents, threads, field updates and the outbox
act       workflow actions (route, accept, forward…), field updates, OCR retries, drafts
sign      sign responses
stats     read statistics and verify the logbook
========  ==================================================================================

A token may also name a **channel** (``chatbot``, ``app``, ``telefono``, ``interinstitucional``…):
every filing it creates records that channel, whatever the form says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from . import auth
from .db import DbSession, utcnow
from .errors import InvalidInput, NotFound
from .models import ApiToken, Channel, Role, User


class Scope(StrEnum):
    FILE = "file"
    TRACK = "track"
    ACT = "act"
    SIGN = "sign"
    STATS = "stats"


SCOPE_LABELS = {
    Scope.FILE: "Presentar escritos y escribir al área",
    Scope.TRACK: "Consultar escritos, documentos y avisos",
    Scope.ACT: "Turnar y atender escritos (acciones, avances, borradores)",
    Scope.SIGN: "Firmar respuestas",
    Scope.STATS: "Consultar estadísticas y verificar la bitácora",
}

ALL_SCOPES: tuple[Scope, ...] = tuple(Scope)

#: what each role can use at all; a token without ``--scope`` gets all of its role's
ROLE_SCOPES: dict[Role, tuple[Scope, ...]] = {
    Role.CITIZEN: (Scope.FILE, Scope.TRACK),
    Role.CLERK: (Scope.FILE, Scope.TRACK, Scope.ACT),
    # statistics: the view itself lets only the heads of departments among staff read them
    Role.STAFF: (Scope.FILE, Scope.TRACK, Scope.ACT, Scope.STATS),
    Role.SIGNER: (Scope.FILE, Scope.TRACK, Scope.ACT, Scope.SIGN, Scope.STATS),
    Role.AUDITOR: (Scope.TRACK, Scope.STATS),
    Role.ADMIN: ALL_SCOPES,
}

#: channels a token may be bound to (the window and the web portal are not API channels)
TOKEN_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c not in (Channel.WEB, Channel.WINDOW))


def parse_scopes(values: Iterable[str], role: Role) -> list[Scope]:
    """Check requested scopes against the role; none requested means all of the role's.

    :raises InvalidInput: for an unknown scope or one the role cannot use.
    """
    wanted: list[Scope] = []
    for raw in values:
        for part in str(raw).replace(",", " ").split():
            try:
                scope = Scope(part.strip().lower())
            except ValueError:
                raise InvalidInput(f"Alcance desconocido: «{part}». Valores admitidos: "
                                   + ", ".join(s.value for s in Scope) + ".", field="scopes") from None
            if scope not in ROLE_SCOPES[role]:
                raise InvalidInput(f"El rol del usuario no permite el alcance «{scope.value}».", field="scopes")
            if scope not in wanted:
                wanted.append(scope)
    return wanted or list(ROLE_SCOPES[role])


def parse_channel(value: str | None) -> Channel | None:
    """:raises InvalidInput: for a channel that is not an API channel."""
    value = (value or "").strip().lower()
    if not value:
        return None
    try:
        channel = Channel(value)
    except ValueError:
        channel = None
    if channel is None or channel not in TOKEN_CHANNELS:
        raise InvalidInput("Canal desconocido para un token. Valores admitidos: "
                           + ", ".join(c.value for c in TOKEN_CHANNELS) + ".", field="channel")
    return channel


def issue_token(session: DbSession, user: User, *, name: str, scopes: Sequence[str] = (),
                channel: str | None = None) -> tuple[ApiToken, str]:
    """Issue a channel token for ``user`` (flushes only); the token is returned once.

    :raises InvalidInput: for a bad scope or channel, or an inactive user.
    """
    if not user.active:
        raise InvalidInput("El usuario está inactivo.", field="user")
    granted = parse_scopes(scopes, user.role)
    bound = parse_channel(channel)
    token = auth.create_token(session, user, name or "api")
    row = find_token(session, token, touch=False)
    assert row is not None  # noqa: S101 - just created
    row.scopes = " ".join(s.value for s in granted)
    row.channel = bound
    session.flush()
    return row, token


#: built once: every API request runs it
_LIVE_TOKEN = select(ApiToken).options(joinedload(ApiToken.user)).where(
    ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None))


def find_token(session: DbSession, token: str, *, touch: bool = True) -> ApiToken | None:
    """The live token row of an active user, or None; records its last use (once a minute)."""
    if not token.startswith(auth.TOKEN_PREFIX):
        return None
    row = session.execute(_LIVE_TOKEN, {"digest": auth._token_digest(token)}).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    # at most once a minute: a write per request would serialise API clients on SQLite
    if touch and (row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1)):
        row.last_used_at = now
    return row


def revoke_token(session: DbSession, token_id: int) -> ApiToken:
    """Revoke a token (flushes only); revoking twice changes nothing.

    :raises NotFound: for an unknown token.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("No existe ese token.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def list_tokens(session: DbSession) -> Sequence[ApiToken]:
    return session.execute(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
                           ).scalars().all()
