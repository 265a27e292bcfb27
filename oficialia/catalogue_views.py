"""The public catalogue of procedures and services (Registro Municipal de Trámites y Servicios):
``/tramites`` (searchable, accents and case ignored) and one page per procedure with a button to
file it online."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from .db import DbSession, db
from .errors import NotFound
from .forms import clean_text
from .models import Procedure

bp = Blueprint("catalogue", __name__, url_prefix="/tramites")


def fold(text: str) -> str:
    """Lowercase without accents: «Licencia de construcción» → «licencia de construccion»."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def search_procedures(session: DbSession, q: str) -> Sequence[Procedure]:
    """Active procedures whose name, description, requirements, code or department contain every
    word of ``q`` (accents and case ignored), by name. The catalogue is small: filtered here."""
    rows = session.execute(select(Procedure).where(Procedure.active.is_(True)).order_by(Procedure.name)
                           ).scalars().all()
    words = fold(q).split()
    if not words:
        return rows
    return [p for p in rows
            if all(w in fold(" ".join((p.name, p.description, p.requirements, p.code, p.department.name)))
                   for w in words)]


def procedure_by_code(session: DbSession, code: str) -> Procedure:
    """:raises NotFound: for an unknown or inactive procedure."""
    procedure = session.execute(select(Procedure).where(
        Procedure.code == clean_text(code).upper(), Procedure.active.is_(True))).scalar_one_or_none()
    if procedure is None:
        raise NotFound("No existe ese trámite en el catálogo.")
    return procedure


@bp.get("")
def index() -> ResponseReturnValue:
    """The catalogue, with search."""
    q = clean_text(request.args.get("q"))[:200]
    return render_template("catalogue/index.html", procedures=search_procedures(db.session, q), q=q)


@bp.get("/<code>")
def detail(code: str) -> ResponseReturnValue:
    """One procedure: requirements, department, response time, cost, and the button to file it."""
    return render_template("catalogue/detail.html", procedure=procedure_by_code(db.session, code))
