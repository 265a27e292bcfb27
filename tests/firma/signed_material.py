"""Test material for the verifier: a small PKI made with ``cryptography``, PDFs signed the way the
product signs them (PAdES, certification with DocMDP "form filling and signing", visible field,
timestamp from a TSA of the same PKI), and the attacks on them.

Everything is generated in memory, once per test session; no private key leaves the process.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

import firma.verify  # noqa: F401 - applies the asn1crypto fix our SAT-like test names need

UNIQUE_ID = ObjectIdentifier("2.5.4.45")


@dataclass(frozen=True)
class Party:
    cert: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def asn1(self) -> ax509.Certificate:
        return ax509.Certificate.load(self.der)

    @property
    def asn1_key(self) -> akeys.PrivateKeyInfo:
        return akeys.PrivateKeyInfo.load(self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _name(cn: str, *, rfc: str | None = None, curp: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ayuntamiento de Prueba"),
             x509.NameAttribute(NameOID.COUNTRY_NAME, "MX")]
    if rfc:
        attrs.append(x509.NameAttribute(UNIQUE_ID, f"{rfc} / ", _type=x509.name._ASN1Type.PrintableString))
    if curp:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f" / {curp}"))
    return x509.Name(attrs)


def _issue(subject: x509.Name, key: object, issuer: Party | None, *, ca: bool, tsa: bool = False,
           days: int = 3650, start: datetime | None = None) -> Party:
    now = start or datetime.now(UTC) - timedelta(days=1)
    public = key.public_key()  # type: ignore[attr-defined]
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject).public_key(public)
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()), critical=False)  # type: ignore[arg-type]
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    elif tsa:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    signing_key = issuer.key if issuer else key
    cert = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    return Party(cert, key)


@dataclass(frozen=True)
class TestPki:
    root: Party
    issuing: Party
    signer: Party
    second_signer: Party
    tsa: Party
    stranger: Party  # self-signed, never trusted

    def simple_signer(self, party: Party | None = None) -> signers.SimpleSigner:
        party = party or self.signer
        chain = [self.issuing.asn1, self.root.asn1] if party is not self.stranger else []
        return signers.SimpleSigner(signing_cert=party.asn1, signing_key=party.asn1_key,
                                    cert_registry=SimpleCertificateStore.from_certs(chain))

    def timestamper(self) -> DummyTimeStamper:
        return DummyTimeStamper(tsa_cert=self.tsa.asn1, tsa_key=self.tsa.asn1_key,
                                certs_to_embed=SimpleCertificateStore.from_certs([self.issuing.asn1, self.root.asn1]))


def make_pki() -> TestPki:
    root = _issue(_name("Raíz de Prueba del Ayuntamiento"), ec.generate_private_key(ec.SECP256R1()), None, ca=True)
    issuing = _issue(_name("AC Emisora de Prueba"), ec.generate_private_key(ec.SECP256R1()), root, ca=True)
    signer = _issue(_name("Roberto Salas Prueba", rfc="SAPR800101AB1", curp="SAPR800101HDFLRB09"),
                    ec.generate_private_key(ec.SECP256R1()), issuing, ca=False, days=700)
    second = _issue(_name("Elena Ortiz Prueba", rfc="OIPE790202CD2"), ec.generate_private_key(ec.SECP256R1()),
                    issuing, ca=False, days=700)
    tsa = _issue(_name("Sellado de Tiempo de Prueba"), rsa.generate_private_key(65537, 2048), issuing, ca=False,
                 tsa=True)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _issue(_name("Impostor"), stranger_key, None, ca=False)
    return TestPki(root, issuing, signer, second, tsa, stranger)


def make_document(pages: int = 2, *, with_field: bool = True) -> bytes:
    """A small letter as the product renders one, with a text field to fill on the first page."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True)
    for number in range(1, pages + 1):
        canvas.setFont("Helvetica", 12)
        canvas.drawString(72, 770, f"Respuesta al folio OP-2026-000123 — página {number}")
        canvas.drawString(72, 740, "Se autoriza la licencia de construcción solicitada por un monto de $1,250.00.")
        if number == 1 and with_field:
            canvas.acroForm.textfield(name="Observaciones", x=72, y=600, width=300, height=20, value="ninguna")
        canvas.showPage()
    canvas.save()
    return buf.getvalue()


def sign(pdf: bytes, pki: TestPki, *, party: Party | None = None, field: str = "Firma1", certify: bool = True,
         timestamp: bool = True, box: tuple[int, int, int, int] | None = (72, 72, 300, 140)) -> bytes:
    """Sign like the product: PAdES, certification (DocMDP P=2) on the first signature, visible field
    (``box=None``: invisible, as later signers of a certified document sign without a reserved field)."""
    meta = signers.PdfSignatureMetadata(
        field_name=field, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256", certify=certify,
        docmdp_permissions=MDPPerm.FILL_FORMS, reason="Respuesta oficial", location="Villa Esperanza")
    pdf_signer = signers.PdfSigner(meta, pki.simple_signer(party), timestamper=pki.timestamper() if timestamp else None,
                                   new_field_spec=SigFieldSpec(field, on_page=0, box=box))
    out = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    return bytes(out.getbuffer())


def document_timestamp(pdf: bytes, pki: TestPki) -> bytes:
    out = signers.PdfTimeStamper(pki.timestamper()).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), md_algorithm="sha256")
    return bytes(out.getbuffer())


# ---------------------------------------------------------------------------------------------
# attacks


def _contents_span(pdf: bytes) -> tuple[int, int]:
    match = list(re.finditer(rb"/Contents\s*<([0-9a-fA-F]+)>", pdf))[-1]
    return match.start(1), match.end(1)


def _byterange_span(pdf: bytes) -> tuple[int, int, list[int]]:
    match = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf))[-1]
    return match.start(), match.end(), [int(g) for g in match.groups()]


def _replace_same_length(pdf: bytes, start: int, end: int, text: bytes) -> bytes:
    assert len(text) <= end - start
    return pdf[:start] + text.ljust(end - start, b" ") + pdf[end:]


def contents_zeroed(pdf: bytes) -> bytes:
    start, end = _contents_span(pdf)
    return pdf[:start] + b"0" * (end - start) + pdf[end:]


def contents_removed(pdf: bytes) -> bytes:
    match = list(re.finditer(rb"/Contents\s*<[0-9a-fA-F]+>", pdf))[-1]
    return _replace_same_length(pdf, match.start(), match.end(), b"")


def byterange_removed(pdf: bytes) -> bytes:
    start, end, _ = _byterange_span(pdf)
    return _replace_same_length(pdf, start, end, b"")


def byterange_shortened(pdf: bytes) -> bytes:
    start, end, (a, b, c, d) = _byterange_span(pdf)
    return _replace_same_length(pdf, start, end, f"/ByteRange [{a} {b} {c} {d - 200}]".encode())


def gap_enlarged(pdf: bytes) -> bytes:
    start, end, (a, b, c, d) = _byterange_span(pdf)
    return _replace_same_length(pdf, start, end, f"/ByteRange [{a} {b - 40} {c + 40} {d - 40}]".encode())


def byte_flipped(pdf: bytes) -> bytes:
    target = pdf.index(b"licencia") if b"licencia" in pdf else pdf.index(b"stream") + 20
    flipped = bytearray(pdf)
    flipped[target] ^= 0x01
    return bytes(flipped)


def page_appended(pdf: bytes) -> bytes:
    """An incremental update (new xref section) that adds a page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    content = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (Pagina falsa) Tj ET"))
    page = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Page"),
        pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        pdf_name("/Contents"): content,
        pdf_name("/Resources"): generic.DictionaryObject(),
    })
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_appended_without_xref(pdf: bytes) -> bytes:
    """The same page update with its cross-reference section and trailer cut off: only readers that
    rebuild the xref table by scanning see the page."""
    updated = page_appended(pdf)
    tail = updated[len(pdf):]
    cut = tail.rfind(b"\nxref")
    return pdf + tail[:cut] + b"%%EOF\n"


def _add_annotation(pdf: bytes, annot: generic.DictionaryObject, *, as_field: bool = False) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    ap_stream = generic.StreamObject(
        {pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
         pdf_name("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 450, 40)])},
        stream_data=b"1 1 1 rg 0 0 450 40 re f 0 0 0 rg BT /Helv 12 Tf 2 12 Td (Monto: $99,999.00) Tj ET")
    annot[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(ap_stream)})
    annot_ref = writer.add_object(annot)
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    annot[pdf_name("/P")] = page_ref
    writer.register_annotation(page_ref, annot_ref)
    if as_field:
        acroform = writer.root["/AcroForm"]
        acroform["/Fields"].append(annot_ref)
        writer.update_container(acroform)
        writer.update_container(acroform["/Fields"])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _rect() -> generic.ArrayObject:
    return generic.ArrayObject([generic.NumberObject(v) for v in (70, 730, 520, 770)])


def annotation_over_text(pdf: bytes) -> bytes:
    return _add_annotation(pdf, generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/FreeText"),
        pdf_name("/Rect"): _rect(), pdf_name("/Contents"): generic.TextStringObject("Monto: $99,999.00"),
        pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g")}))


def signature_widget_over_text(pdf: bytes) -> bytes:
    return _add_annotation(pdf, generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/FT"): pdf_name("/Sig"), pdf_name("/T"): generic.TextStringObject("FirmaFalsa"),
        pdf_name("/F"): generic.NumberObject(4), pdf_name("/Rect"): _rect()}), as_field=True)


def form_value_changed(pdf: bytes) -> bytes:
    """Form filling, which the certification (DocMDP P=2) allows, but which changes what was signed."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    changed = 0
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field_dict = ref.get_object()
        if field_dict.get("/FT") == "/Tx":
            field_dict[pdf_name("/V")] = generic.TextStringObject("rechazada")
            writer.update_container(field_dict)
            changed += 1
    assert changed, "the document has no text field to fill"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def signature_appearance_rewritten(pdf: bytes) -> bytes:
    """The visible appearance of a signature already made, replaced (same object number) by one that
    draws other text: the signature's bytes are untouched, what the reader sees is not."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field_dict = ref.get_object()
        if field_dict.get("/FT") == "/Sig" and "/V" in field_dict and "/AP" in field_dict:
            normal = field_dict["/AP"].raw_get("/N")
            if isinstance(normal, generic.IndirectObject):
                break
    else:
        raise AssertionError("no visible signature to rewrite")
    fake = generic.StreamObject(
        {pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
         pdf_name("/BBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 228, 68)])},
        stream_data=b"1 1 1 rg 0 0 228 68 re f 0 0 0 rg BT /Helv 10 Tf 4 30 Td (Firmado por: otra persona) Tj ET")
    writer.objects[(normal.generation, normal.idnum)] = fake
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def title_changed(pdf: bytes) -> bytes:
    """The document's title (shown by viewers in the window's title bar) changed after signing."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = writer.trailer["/Info"]
    info[pdf_name("/Title")] = generic.TextStringObject("Resolución favorable")
    writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rewritten_unchanged(pdf: bytes) -> bytes:
    """Not an attack: a page object written again, identical (some tools do this)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    writer.mark_update(writer.root["/Pages"]["/Kids"].raw_get(1))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def rewritten(pdf: bytes) -> bytes:
    """The whole file saved again (not incrementally) by another tool."""
    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        doc.save(out)
    return out.getvalue()


def untrusted_signature_over_text(pdf: bytes, pki: TestPki) -> bytes:
    """A second, visible signature laid over the text by someone outside the trust store."""
    return sign(pdf, pki, party=pki.stranger, field="Firma2", certify=False, timestamp=False, box=(70, 730, 520, 770))


ATTACKS = {
    "contents_zeroed": contents_zeroed,
    "contents_removed": contents_removed,
    "byterange_removed": byterange_removed,
    "byterange_shortened": byterange_shortened,
    "gap_enlarged": gap_enlarged,
    "byte_flipped": byte_flipped,
    "page_appended": page_appended,
    "page_appended_without_xref": page_appended_without_xref,
    "annotation_over_text": annotation_over_text,
    "signature_widget_over_text": signature_widget_over_text,
    "form_value_changed": form_value_changed,
    "rewritten": rewritten,
    "signature_appearance_rewritten": signature_appearance_rewritten,
    "title_changed": title_changed,
}

__all__ = ["ATTACKS", "TestPki", "document_timestamp", "fields", "make_document", "make_pki", "sign",
           "untrusted_signature_over_text"]
