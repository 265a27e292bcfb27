"""Fees on the real database: the payment order and its MOD 97-10 reference, the acuse, the filing
waiting for its payment, the bank file's import (valid, unknown, duplicate and malformed rows;
never credited twice), the gateway's signed notices and the reconciliation."""

from __future__ import annotations

import io
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from oficialia.db import db
from oficialia.models import Filing, Role, User
from oficialia.payments import (
    OrderStatus,
    Payment,
    PaymentMatch,
    PaymentOrder,
    gateway_signature,
    import_bank_file,
    mod97_check_digits,
    mod97_valid,
)
from workflows.models import LogbookEntry
from workflows.routing import ActionRequest, Target, perform_action
from workflows.states import Action, FilingState

TZ = "America/Mexico_City"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the check digits (pure) ----------------------------------------------------------------------


def test_mod97_known_vectors() -> None:
    # ISO 7064 MOD 97-10, numeric example: 794 → 44 (79444 ≡ 1 mod 97)
    assert mod97_check_digits("794") == "44"
    assert mod97_valid("79444")
    # the same algorithm checks IBANs (ISO 13616): BBAN + country code, letters as 10–35
    assert mod97_check_digits("WEST12345698765432GB") == "82"   # GB82 WEST 1234 5698 7654 32
    assert mod97_check_digits("370400440532013000DE") == "89"   # DE89 3704 0044 0532 0130 00
    assert mod97_valid("WEST12345698765432GB82")


def test_mod97_catches_every_single_error_and_adjacent_swap() -> None:
    base = "2600000135"
    ref = base + mod97_check_digits(base)
    assert mod97_valid(ref)
    for i in range(len(ref)):
        for d in "0123456789":
            if d != ref[i]:
                assert not mod97_valid(ref[:i] + d + ref[i + 1:])
        if i + 1 < len(ref) and ref[i] != ref[i + 1]:
            assert not mod97_valid(ref[:i] + ref[i + 1] + ref[i] + ref[i + 2:])


# --- on the database ------------------------------------------------------------------------------


@pytest.fixture
def clerk_token(demo, make_user, make_token) -> str:
    return make_token(make_user(Role.CLERK))


def file_procedure(client, token: str, procedure: str = "DU-NUM") -> dict[str, Any]:
    data = {"subject": "Número oficial", "body": "Solicito número oficial para mi predio.", "filer_name": "Ana Ruiz",
            "filer_email": "ana@example.mx", "filer_kind": "fisica", "procedure": procedure, "channel": "web"}
    response = client.post("/api/v1/filings", headers=bearer(token), data=data, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def order_for(folio: str) -> PaymentOrder:
    return db.session.execute(select(PaymentOrder).join(Filing).where(Filing.folio == folio)).scalar_one()


@pytest.mark.db
def test_a_procedure_with_a_fee_gets_an_order_printed_in_the_acuse(app, client, clerk_token):
    filed = file_procedure(client, clerk_token)
    free = file_procedure(client, clerk_token, procedure="OBRAS-BACHEO")
    with app.app_context():
        order = order_for(filed["folio"])
        assert order.amount == Decimal("180.00") and order.status is OrderStatus.PENDING
        assert len(order.reference) == 12 and mod97_valid(order.reference)
        assert db.session.execute(select(func.count(PaymentOrder.id))).scalar_one() == 1  # the free one has none
        events = db.session.execute(select(LogbookEntry.event).where(
            LogbookEntry.filing_id == order.filing_id)).scalars().all()
        assert "payment_order_issued" in events
        reference, display = order.reference, order.reference_display
    assert free["folio"] != filed["folio"]
    # the API's answer carries the order, and its printable copy opens with the tracking code
    payment = filed["payment"]
    assert payment["amount"] == "180.00" and payment["reference"] == reference and payment["status"] == "pending"
    assert payment["reference_display"] == display and payment["paid_at"] is None
    assert client.get(payment["order_url"].replace("http://oficialia.test", "")).status_code == 200
    assert free["payment"] is None
    pdf = client.get(filed["receipt_url"].replace("http://oficialia.test", ""))
    assert pdf.status_code == 200
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Pago de derechos" in text and display in text and "180.00" in text
    # the tracking page shows it waiting, with the printable order
    query = {"folio": filed["folio"], "code": filed["tracking_code"]}
    page = client.get("/seguimiento", query_string=query).get_data(as_text=True)
    assert "Pendiente de pago" in page and display in page and "Orden de pago emitida" in page
    printable = client.get(f"/seguimiento/{filed['folio']}/orden-de-pago",
                           query_string={"code": filed["tracking_code"]})
    assert printable.status_code == 200 and display in printable.get_data(as_text=True)
    assert client.get(f"/seguimiento/{filed['folio']}/orden-de-pago",
                      query_string={"code": "0000-0000-0000"}).status_code == 404
    assert reference


@pytest.mark.db
def test_the_filing_waits_for_its_payment_then_proceeds(app, client, runner, clerk_token, tmp_path):
    filed = file_procedure(client, clerk_token)
    with app.app_context():
        reference = order_for(filed["folio"]).reference
        filing = db.session.execute(select(Filing).where(Filing.folio == filed["folio"])).scalar_one()
        clerk = db.session.execute(select(User).where(User.email == "oficialia@demo.gob.mx")).scalar_one()
        from workflows.routing import ActionInvalid

        with pytest.raises(ActionInvalid, match="pago de derechos"):
            perform_action(db.session, filing, clerk, ActionRequest(action=Action.ROUTE, targets=(Target("DU"),)),
                           tz=TZ)
        db.session.rollback()
    path = tmp_path / "pagos.csv"
    path.write_text(f"referencia,importe,fecha,autorizacion\n{reference},180.00,2026-11-20,AUT-1\n")
    result = runner.invoke(args=["payments", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "Pagos aplicados: 1" in result.output and filed["folio"] in result.output
    with app.app_context():
        filing = db.session.execute(select(Filing).where(Filing.folio == filed["folio"])).scalar_one()
        clerk = db.session.execute(select(User).where(User.email == "oficialia@demo.gob.mx")).scalar_one()
        perform_action(db.session, filing, clerk, ActionRequest(action=Action.ROUTE, targets=(Target("DU"),)), tz=TZ)
        assert filing.status is FilingState.ROUTED
        from workflows.models import Notification

        told = db.session.execute(select(Notification).where(Notification.kind == "payment_received")).scalar_one()
        assert told.to_email == "ana@example.mx" and "180.00" in told.body
    page = client.get("/seguimiento", query_string={"folio": filed["folio"], "code": filed["tracking_code"]})
    assert "Pago de derechos acreditado" in page.get_data(as_text=True)
    record = client.get(f"/api/v1/filings/{filed['folio']}", headers=bearer(clerk_token)).json
    assert record["payment"]["status"] == "paid" and record["payment"]["paid_at"]
    assert record["payment"]["order_url"] is None  # the record never carries the tracking code


@pytest.mark.db
def test_a_bank_file_with_bad_rows_imports_what_is_valid_and_never_pays_twice(app, client, clerk_token, make_user,
                                                                             login):
    a = file_procedure(client, clerk_token)
    b = file_procedure(client, clerk_token, procedure="CAT-CERT")  # 120.00
    with app.app_context():
        ref_a, ref_b = order_for(a["folio"]).reference, order_for(b["folio"]).reference
    unknown_base = "9900000001"
    unknown = unknown_base + mod97_check_digits(unknown_base)
    bad_check = ref_a[:-1] + str((int(ref_a[-1]) + 1) % 10)
    csv_text = "\n".join([
        "Referencia;Importe;Fecha;Autorización;Sucursal",
        f"{ref_a};$180.00;20/11/2026;A-1;0101",         # 2 credited
        f"{ref_a};180.00;2026-11-20;A-1;0101",          # 3 duplicate (same authorisation, same file)
        f"{unknown};50.00;2026-11-20;A-2;0101",         # 4 unknown reference: kept for reconciliation
        f"{bad_check};180.00;2026-11-20;A-3;0101",      # 5 malformed: check digit
        f"{ref_b};12x;2026-11-20;A-4;0101",             # 6 malformed: amount
        f"{ref_b};120.00;2026-13-45;A-5;0101",          # 7 malformed: date
        f"{ref_b};120.00",                              # 8 malformed: columns
        "",
        f"{ref_a};180.00;2026-11-21;A-6;0101",          # 10 paid again with another authorisation
        f"{ref_b};100.00;2026-11-21;A-7;0101",          # 11 wrong amount
    ]) + "\n"
    admin = make_user(Role.ADMIN)
    login(admin)
    response = client.post("/admin/pagos/importar", data={"file": (io.BytesIO(csv_text.encode("latin-1")), "p.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert ("Renglones leídos: 9. Pagos aplicados: 1. Sin aplicar (para conciliar): 3. Duplicados: 1. "
            "Con errores (no registrados): 4.") in page
    for expected in ["Renglón 2: referencia", "Renglón 3: autorización A-1 ya importada",
                     "Renglón 4: referencia " + unknown, "Renglón 5: referencia", "dígito verificador incorrecto",
                     "Renglón 6: importe", "Renglón 7: fecha", "Renglón 8: tiene 2 columnas",
                     "Renglón 10: referencia " + ref_a, "ya estaba pagada", "Renglón 11: referencia " + ref_b,
                     "el importe no coincide"]:
        assert expected in page, expected
    with app.app_context():
        order_a, order_b = order_for(a["folio"]), order_for(b["folio"])
        assert order_a.status is OrderStatus.PAID and order_b.status is OrderStatus.PENDING
        credited = db.session.execute(select(Payment).where(Payment.order_id == order_a.id)).scalars().all()
        assert len(credited) == 1 and credited[0].transaction_id == "A-1"
        matches = sorted(m.value for m in db.session.execute(select(Payment.match)).scalars())
        assert matches == sorted(["matched", "unknown_reference", "already_paid", "amount_mismatch"])
        received = db.session.execute(select(func.count(LogbookEntry.seq)).where(
            LogbookEntry.event == "payment_received")).scalar_one()
        assert received == 1
    # the same file again: nothing new is recorded
    again = client.post("/admin/pagos/importar", data={"file": (io.BytesIO(csv_text.encode("latin-1")), "p.csv")},
                        content_type="multipart/form-data").get_data(as_text=True)
    assert "Pagos aplicados: 0. Sin aplicar (para conciliar): 0. Duplicados: 5." in again
    # reconciliation
    summary = client.get("/admin/pagos").get_data(as_text=True)
    assert 'id="rec-paid">1<' in summary and 'id="rec-pending">1<' in summary and 'id="rec-unmatched">3<' in summary
    # a file without the columns is refused as a whole, with a message
    bad = client.post("/admin/pagos/importar", data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "no tiene la(s) columna(s)" in bad.get_data(as_text=True)


@pytest.mark.db
def test_the_gateway_notice_is_verified_by_its_signature(app, client, clerk_token):
    filed = file_procedure(client, clerk_token)
    with app.app_context():
        reference = order_for(filed["folio"]).reference
    body = json.dumps({"transaction_id": "GW-77", "reference": reference, "amount": "180.00",
                       "paid_at": "2026-11-20T10:00:00-06:00"}).encode()
    assert client.post("/api/v1/payments/gateway", data=body).status_code == 404  # no gateway configured
    app.config["PAYMENT_WEBHOOK_SECRET"] = "secreto-de-prueba"
    unsigned = client.post("/api/v1/payments/gateway", data=body, content_type="application/json")
    assert unsigned.status_code == 401
    forged = client.post("/api/v1/payments/gateway", data=body, content_type="application/json",
                         headers={"X-Signature": gateway_signature("otro", body)})
    assert forged.status_code == 401
    signed = {"X-Signature": gateway_signature("secreto-de-prueba", body)}
    ok = client.post("/api/v1/payments/gateway", data=body, content_type="application/json", headers=signed)
    assert ok.status_code == 200 and ok.json == {"result": "matched", "folio": filed["folio"]}
    repeat = client.post("/api/v1/payments/gateway", data=body, content_type="application/json", headers=signed)
    assert repeat.json == {"result": "duplicate"}
    bad = json.dumps({"transaction_id": "GW-78", "reference": "123", "amount": "1", "paid_at": "x"}).encode()
    refused = client.post("/api/v1/payments/gateway", data=bad, content_type="application/json",
                          headers={"X-Signature": gateway_signature("secreto-de-prueba", bad)})
    assert refused.status_code == 422
    with app.app_context():
        assert order_for(filed["folio"]).status is OrderStatus.PAID
        assert db.session.execute(select(func.count(Payment.id))).scalar_one() == 1


@pytest.mark.postgres
@pytest.mark.db
def test_two_imports_at_once_credit_an_order_once(app, client, clerk_token):
    filed = file_procedure(client, clerk_token)
    with app.app_context():
        reference = order_for(filed["folio"]).reference
    files = [f"referencia,importe,fecha,autorizacion\n{reference},180.00,2026-11-20,T-{n}\n".encode() for n in (1, 2)]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def run(data: bytes) -> None:
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(import_bank_file(db.session, data, actor=None, tz=TZ))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2
    assert sorted(len(r.matched) for r in outcomes) == [0, 1]
    with app.app_context():
        matches = sorted(m.value for m in db.session.execute(select(Payment.match)).scalars())
        assert matches == [PaymentMatch.ALREADY_PAID.value, PaymentMatch.MATCHED.value]
