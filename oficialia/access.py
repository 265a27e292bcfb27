"""Who may see which filings: one place, used by every list, page, download and API call.

A citizen sees only their own filings; department staff and signers those routed or copied to
their department (now or before); clerks, auditors and admins all. Anything not visible answers like a filing that
does not exist (404), so ids and folios cannot be probed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from workflows.models import Routing

from .db import DbSession
from .errors import NotFound
from .models import Document, Filing, Role, User

SEE_ALL = frozenset({Role.CLERK, Role.AUDITOR, Role.ADMIN})
DEPARTMENT_ROLES = frozenset({Role.STAFF, Role.SIGNER})


def visible_filings(user: User) -> Select[Any]:
    """A SELECT of the filings ``user`` may see; callers add filters and ordering."""
    stmt = select(Filing)
    if user.role in SEE_ALL:
        return stmt
    if user.role in DEPARTMENT_ROLES and user.department_id is not None:
        # routed or copied to the department, now or at any time before
        routed = select(Routing.filing_id).where(Routing.department_id == user.department_id)
        return stmt.where(Filing.id.in_(routed))
    if user.role is Role.CITIZEN:
        return stmt.where(Filing.filer_id == user.id)
    return stmt.where(Filing.id.is_(None))


def get_filing(session: DbSession, user: User, folio: str) -> Filing:
    """The filing with ``folio`` if ``user`` may see it.

    :raises NotFound: if it does not exist or is not visible.
    """
    filing: Filing | None = session.execute(
        visible_filings(user).where(Filing.folio == folio.strip().upper())).scalar_one_or_none()
    if filing is None:
        raise NotFound("No se encontró el folio solicitado.")
    return filing


def get_document(session: DbSession, user: User, document_id: int) -> Document:
    """The document if ``user`` may see its filing.

    :raises NotFound: if it does not exist or is not visible.
    """
    visible = visible_filings(user).with_only_columns(Filing.id).scalar_subquery()
    document = session.execute(
        select(Document).where(Document.id == document_id, Document.filing_id.in_(visible))
    ).scalar_one_or_none()
    if document is None:
        raise NotFound("No se encontró el documento solicitado.")
    return document
