"""Departments (a tree) and the catalogue of procedures and services."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from .db import DbSession
from .errors import Conflict, InvalidInput, NotFound
from .forms import clean_text
from .models import Department, Procedure, User


def _code(value: str, field: str, max_len: int) -> str:
    code = clean_text(value).upper()
    if not code or len(code) > max_len or not all(ch.isalnum() or ch in "-_" for ch in code):
        raise InvalidInput(f"La clave debe tener de 1 a {max_len} letras, números, guiones o guiones bajos.",
                           field=field)
    return code


def department_by_code(session: DbSession, code: str) -> Department:
    """:raises NotFound: if there is no department with that code."""
    dept = session.execute(select(Department).where(Department.code == code.strip().upper())).scalar_one_or_none()
    if dept is None:
        raise NotFound(f"No existe el área «{code}».")
    return dept


def save_department(session: DbSession, *, code: str, name: str, parent_code: str | None = None,
                    head_email: str | None = None, active: bool = True,
                    department: Department | None = None) -> Department:
    """Create a department, or update ``department`` (flushes only).

    :raises Conflict: for a code in use; :raises InvalidInput: for a bad parent or head.
    """
    code = _code(code, "code", 20)
    name = clean_text(name)
    if not name:
        raise InvalidInput("Escriba el nombre del área.", field="name")
    clash = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
    if clash is not None and clash is not department:
        raise Conflict(f"Ya existe un área con la clave «{code}».")
    parent = department_by_code(session, parent_code) if parent_code else None
    if department is not None and parent is not None:
        node: Department | None = parent
        while node is not None:  # refuse cycles in the tree
            if node is department:
                raise InvalidInput("Un área no puede depender de sí misma ni de sus subáreas.", field="parent")
            node = node.parent
    head = None
    if head_email:
        head = session.execute(select(User).where(User.email == head_email.strip().lower())).scalar_one_or_none()
        if head is None:
            raise InvalidInput(f"No existe el usuario «{head_email}».", field="head")
    if department is None:
        department = Department(code=code)
        session.add(department)
    department.code, department.name, department.parent = code, name, parent
    department.head, department.active = head, active
    session.flush()
    return department


def save_procedure(session: DbSession, *, code: str, name: str, department_code: str, response_days: int | str,
                   requirements: str = "", cost: str | Decimal = "0", description: str = "",
                   active: bool = True, procedure: Procedure | None = None) -> Procedure:
    """Create a procedure of the catalogue, or update ``procedure`` (flushes only)."""
    code = _code(code, "code", 30)
    name = clean_text(name)
    if not name:
        raise InvalidInput("Escriba el nombre del trámite.", field="name")
    try:
        days = int(response_days)
    except (TypeError, ValueError):
        raise InvalidInput("El plazo de respuesta debe ser un número de días hábiles.",
                           field="response_days") from None
    if not 1 <= days <= 365:
        raise InvalidInput("El plazo de respuesta debe estar entre 1 y 365 días hábiles.", field="response_days")
    try:
        fee = Decimal(str(cost).strip() or "0").quantize(Decimal("0.01"))
    except InvalidOperation:
        raise InvalidInput("El costo debe ser una cantidad en pesos, por ejemplo 150.00.", field="cost") from None
    if fee < 0 or fee > Decimal("10000000"):
        raise InvalidInput("El costo no es válido.", field="cost")
    clash = session.execute(select(Procedure).where(Procedure.code == code)).scalar_one_or_none()
    if clash is not None and clash is not procedure:
        raise Conflict(f"Ya existe un trámite con la clave «{code}».")
    department = department_by_code(session, department_code)
    if procedure is None:
        procedure = Procedure(code=code)
        session.add(procedure)
    procedure.code, procedure.name, procedure.department = code, name, department
    procedure.response_days, procedure.cost, procedure.active = days, fee, active
    procedure.requirements = clean_text(requirements, multiline=True)
    procedure.description = clean_text(description, multiline=True)
    session.flush()
    return procedure


def department_tree(session: DbSession) -> list[tuple[int, Department]]:
    """All departments in tree order, each with its depth."""
    departments = session.execute(select(Department).order_by(Department.name)).scalars().all()
    children: dict[int | None, list[Department]] = {}
    for d in departments:
        children.setdefault(d.parent_id, []).append(d)
    out: list[tuple[int, Department]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for d in children.get(parent_id, []):
            out.append((depth, d))
            walk(d.id, depth + 1)

    walk(None, 0)
    return out
