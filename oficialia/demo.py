"""Demo data: a believable municipality with its departments, a dozen procedures and one
account per role, so the product can be tried offline right after ``make run``."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from . import auth, catalogue
from .db import DbSession
from .models import Department, Procedure, Role, User

DEMO_PASSWORD = "demo-oficialia-2026"  # noqa: S105 - published demo accounts
#: password of every demo signer's PKCS#12 (<instance>/pki/<e-mail local part>.p12)
DEMO_SIGNER_PASSWORD = "demo-firma-2026"  # noqa: S105 - published demo certificates

DEPARTMENTS = [
    ("PRES", "Presidencia Municipal", None),
    ("SAY", "Secretaría del Ayuntamiento", "PRES"),
    ("OP", "Oficialía de Partes", "SAY"),
    ("FIN", "Tesorería y Finanzas", "PRES"),
    ("CAT", "Catastro", "FIN"),
    ("OBRAS", "Obras Públicas", "PRES"),
    ("DU", "Desarrollo Urbano", "PRES"),
    ("BIEN", "Bienestar Social", "PRES"),
    ("SALUD", "Salud Municipal", "BIEN"),
    ("RH", "Recursos Humanos", "SAY"),
    ("SP", "Servicios Públicos", "PRES"),
    ("CONTRA", "Contraloría Municipal", "PRES"),
    ("TRANSP", "Unidad de Transparencia", "SAY"),
]

# code, name, department, working days, cost, requirements, description
PROCEDURES = [
    ("DU-LC", "Licencia de construcción", "DU", 15, "1250.00",
     "Solicitud firmada\nIdentificación oficial\nEscritura o título de propiedad\nPlanos arquitectónicos\n"
     "Pago de derechos", "Autorización para construir, ampliar o remodelar un inmueble."),
    ("DU-USO", "Constancia de uso de suelo", "DU", 10, "450.00",
     "Solicitud firmada\nIdentificación oficial\nCroquis de ubicación", "Uso permitido de un predio."),
    ("DU-NUM", "Asignación de número oficial", "DU", 5, "180.00",
     "Solicitud\nIdentificación oficial\nComprobante de propiedad", "Número oficial para un predio."),
    ("OBRAS-BACHEO", "Solicitud de bacheo y reparación de vialidades", "OBRAS", 20, "0",
     "Ubicación del daño\nFotografías (opcional)", "Reparación de baches y pavimento."),
    ("OBRAS-OBRA", "Petición de obra pública", "OBRAS", 30, "0",
     "Escrito de petición\nFirmas de vecinos (opcional)", "Solicitud de obra para la comunidad."),
    ("SP-ALUMB", "Reparación de alumbrado público", "SP", 10, "0",
     "Ubicación de la luminaria", "Reporte de luminarias apagadas o dañadas."),
    ("SP-BASURA", "Recolección de residuos voluminosos", "SP", 5, "0",
     "Domicilio\nDescripción de los residuos", "Recolección de muebles y residuos grandes."),
    ("CAT-CERT", "Certificado de no adeudo predial", "CAT", 5, "120.00",
     "Clave catastral\nIdentificación oficial", "Constancia de que el predio está al corriente."),
    ("FIN-DEV", "Devolución de pago indebido", "FIN", 20, "0",
     "Escrito libre\nComprobante de pago\nEstado de cuenta bancario", "Reembolso de pagos en exceso."),
    ("BIEN-APOYO", "Solicitud de apoyo social", "BIEN", 15, "0",
     "Identificación oficial\nComprobante de domicilio\nEstudio socioeconómico", "Apoyos a familias."),
    ("SALUD-CERT", "Certificado médico municipal", "SALUD", 3, "90.00",
     "Identificación oficial", "Certificado de salud para trámites."),
    ("TRANSP-SAI", "Solicitud de acceso a la información pública", "TRANSP", 20, "0",
     "Descripción de la información solicitada\nMedio para recibir notificaciones",
     "Derecho de acceso a la información (Ley General de Transparencia)."),
    ("SAY-PET", "Escrito libre de petición (derecho de petición)", "SAY", 10, "0",
     "Escrito dirigido a la autoridad\nNombre y domicilio o correo para notificaciones",
     "Cualquier petición por escrito, artículo 8o constitucional."),
]

# e-mail, name, role, department, rfc
USERS = [
    ("admin@demo.gob.mx", "Administración del sistema", Role.ADMIN, None, None),
    ("oficialia@demo.gob.mx", "Laura Méndez (Oficialía de Partes)", Role.CLERK, "OP", None),
    ("obras@demo.gob.mx", "Jorge Ramírez (Obras Públicas)", Role.STAFF, "OBRAS", None),
    ("urbano@demo.gob.mx", "Patricia Núñez (Desarrollo Urbano)", Role.STAFF, "DU", None),
    ("titular.obras@demo.gob.mx", "Ing. Roberto Salas, titular de Obras Públicas", Role.SIGNER, "OBRAS",
     "AAA010101AAA"),
    ("contraloria@demo.gob.mx", "Mtra. Elena Ortiz (Contraloría)", Role.AUDITOR, "CONTRA", None),
    ("control.interno@demo.gob.mx", "Lic. Andrés Vega (Contraloría, protestas)", Role.STAFF, "CONTRA", None),
    ("ciudadana@demo.mx", "María Guadalupe Hernández", Role.CITIZEN, None, None),
]


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: Role
    password: str


def seed_demo(session: DbSession) -> list[DemoAccount]:
    """Create what is missing of the demo municipality (idempotent; flushes only)."""
    for code, name, parent in DEPARTMENTS:
        if session.execute(select(Department.id).where(Department.code == code)).first() is None:
            catalogue.save_department(session, code=code, name=name, parent_code=parent)
    for code, name, dept, days, cost, reqs, desc in PROCEDURES:
        if session.execute(select(Procedure.id).where(Procedure.code == code)).first() is None:
            catalogue.save_procedure(session, code=code, name=name, department_code=dept, response_days=days,
                                     cost=cost, requirements=reqs, description=desc)
    accounts = []
    for email, user_name, role, user_dept, rfc in USERS:
        if session.execute(select(User.id).where(User.email == email)).first() is None:
            auth.create_user(session, email=email, name=user_name, role=role, password=DEMO_PASSWORD,
                             department_code=user_dept, rfc=rfc)
        accounts.append(DemoAccount(email=email, role=role, password=DEMO_PASSWORD))
    heads = {"OBRAS": "titular.obras@demo.gob.mx"}
    for dept_code, head_email in heads.items():
        head_dept = session.execute(select(Department).where(Department.code == dept_code)).scalar_one()
        head_dept.head = session.execute(select(User).where(User.email == head_email)).scalar_one()
    from .turns import TurnDesk, open_desk

    for desk_code in ("OBRAS", "DU"):  # appointments and walk-in turns (Citas, Turnos), unless set already
        desk_dept = session.execute(select(Department).where(Department.code == desk_code)).scalar_one()
        if session.get(TurnDesk, desk_dept.id) is None:
            open_desk(session, desk_code, 2)
    session.flush()
    return accounts


@dataclass(frozen=True)
class DemoPkiFiles:
    folder: Path
    created: bool
    #: (e-mail, PKCS#12 file) per demo signer
    signers: tuple[tuple[str, Path], ...]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_demo_pki(folder: Path, *, institution: str) -> DemoPkiFiles:
    """Write the demo PKI under ``folder`` (``<instance>/pki``) unless it is already there.

    ``trust/root.pem`` and ``trust/issuing-ca.pem`` (the trust store), ``seal.p12`` with a random
    password in ``seal.password``, and ``<e-mail local part>.p12`` per demo signer, whose password
    is :data:`DEMO_SIGNER_PASSWORD`. An existing ``seal.p12`` means the PKI is there: nothing is
    regenerated (the signatures already made stay verifiable).
    """
    from firma.pki import generate_demo_pki

    signers = [(email, name, rfc) for email, name, role, _dept, rfc in USERS if role == Role.SIGNER and rfc]
    files = tuple((email, folder / f"{email.split('@')[0]}.p12") for email, _name, _rfc in signers)
    if (folder / "seal.p12").exists():
        return DemoPkiFiles(folder=folder, created=False, signers=files)
    (folder / "trust").mkdir(parents=True, exist_ok=True)
    seal_password = secrets.token_urlsafe(24)
    pki = generate_demo_pki(
        institution=institution,
        seal_password=seal_password,
        signers=[(name, rfc, None) for _email, name, rfc in signers],
        signer_password=DEMO_SIGNER_PASSWORD,
    )
    (folder / "trust" / "root.pem").write_bytes(pki.root_pem)
    (folder / "trust" / "issuing-ca.pem").write_bytes(pki.issuing_ca_pem)
    for (_email, path), signer in zip(files, pki.signers, strict=True):
        _write_private(path, signer.pkcs12)
    _write_private(folder / "seal.password", seal_password.encode())
    _write_private(folder / "seal.p12", pki.seal_pkcs12)  # last: its presence means "complete"
    return DemoPkiFiles(folder=folder, created=True, signers=files)
