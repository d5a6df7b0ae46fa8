"""Beheer van het certificaat: upload, replace and revoke the X.509 certificate a subdepartment's
systems call the API with; every refusal says why and stores nothing; no other scope is reachable."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from tests.conftest import World, login
from toegang.audit.models import AuditEvent
from toegang.organisations.models import Certificate, CertificateStatus
from toegang.organisations.services import (
    CERTIFICATE_MAX_BYTES,
    certificate_parse,
    certificate_replace,
    certificate_revoke,
    certificate_upload,
)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(name: str, *args: object) -> str:
    with translation.override("nl"):
        return reverse(name, args=args)


def nl(msgid: str) -> str:
    with translation.override("nl"):
        return gettext(msgid)


_serials = itertools.count(0x1000)


def make_cert(
    cn: str = "api.zonnebloem.test",
    *,
    days_before: int = 1,
    days_after: int = 365,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed certificate valid from ``now - days_before`` to ``now + days_after``."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zon vzw")]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(next(_serials))
        .not_valid_before(now - dt.timedelta(days=days_before))
        .not_valid_after(now + dt.timedelta(days=days_after))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def upload(client: Client, sd_pk: int, data: bytes, name: str = "api.pem") -> Any:
    return client.post(url("portal:certificates", sd_pk), {"file": SimpleUploadedFile(name, data), "text": ""})


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


# --- Upload -----------------------------------------------------------------------------------------


def test_sb_uploads_a_pem_file_and_sees_its_fields(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    cert, _key = make_cert()
    response = upload(client, z.sd.pk, pem(cert))
    assert response.status_code == 302 and response["Location"] == url("portal:certificates", z.sd.pk)
    c = Certificate.objects.get()
    assert c.subdepartment == z.sd and c.granted_by == z.people["sb"]
    assert c.subject == cert.subject.rfc4514_string() == "O=Zon vzw,CN=api.zonnebloem.test"
    assert c.issuer == c.subject
    assert c.serial_number == format(cert.serial_number, "x")
    assert c.fingerprint_sha256 == fingerprint(cert)
    assert (c.not_valid_before, c.not_valid_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert c.pem.encode() == pem(cert) and c.status == CertificateStatus.ACTIVE and c.valid_until is None
    event = AuditEvent.objects.get(action="certificate.upload")
    assert (event.actor, event.enterprise, event.enterprise_quality, event.subdepartment) == (
        z.people["sb"],
        z.enterprise,
        z.eq,
        z.sd,
    )
    assert event.after is not None and event.after["fingerprint_sha256"] == c.fingerprint_sha256
    html = client.get(url("portal:certificates", z.sd.pk)).content.decode()
    expiry = timezone.localtime(c.not_valid_after).strftime("%d/%m/%Y")  # shown in Brussels time
    for shown in (escape(c.subject), c.fingerprint_display, c.serial_display, expiry):
        assert shown in html
    # An expiry at 22:30 UTC on 30 June 2027 is 1 July in Brussels (CEST): the page says 1 July.
    Certificate.objects.filter(pk=c.pk).update(not_valid_after=dt.datetime(2027, 6, 30, 22, 30, tzinfo=dt.UTC))
    late = client.get(url("portal:certificates", z.sd.pk)).content.decode()
    assert "01/07/2027" in late and "30/06/2027" not in late
    assert (
        url("portal:certificate_revoke", z.sd.pk, c.pk) in html
        and url("portal:certificate_replace", z.sd.pk, c.pk) in html
    )


def test_pasted_pem_text_and_der_files_are_accepted(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["cosb"])
    pasted, _k = make_cert("pasted.test")
    der, _k2 = make_cert("der.test")
    r1 = client.post(url("portal:certificates", z.sd.pk), {"text": "\n  " + pem(pasted).decode() + "\n"})
    r2 = upload(client, z.sd.pk, der.public_bytes(serialization.Encoding.DER), "api.cer")
    assert r1.status_code == r2.status_code == 302
    stored = {c.fingerprint_sha256: c for c in Certificate.objects.all()}
    assert set(stored) == {fingerprint(pasted), fingerprint(der)}
    assert stored[fingerprint(der)].pem.encode() == pem(der)  # DER is kept as PEM


def _refusals() -> list[tuple[str, Any, str]]:
    """(case, data builder, message msgid)"""
    malformed = "The certificate cannot be read: it is not a valid PEM or DER file."
    private = "The file contains a private key. Upload only the certificate; keep the private key on your system."

    def with_key() -> bytes:
        cert, key = make_cert()
        return pem(cert) + key_pem(key)

    def key_first_rsa_style() -> bytes:
        cert, key = make_cert()
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ) + pem(cert)

    def der_key() -> bytes:
        _cert, key = make_cert()
        return key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def broken_base64() -> bytes:
        text = pem(make_cert()[0]).decode().splitlines()
        text[3] = "!!!!" + text[3][4:]
        return "\n".join(text).encode()

    def public_key_only() -> bytes:
        _cert, key = make_cert()
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return [
        ("expired", lambda: pem(make_cert(days_before=400, days_after=-1)[0]), "The certificate expired on %(date)s."),
        (
            "not_yet_valid",
            lambda: pem(make_cert(days_before=-10, days_after=300)[0]),
            "The certificate is not valid yet: it becomes valid on %(date)s.",
        ),
        ("private_key", with_key, private),
        ("private_key", key_first_rsa_style, private),
        ("private_key", der_key, private),
        ("malformed", lambda: b"this is not a certificate at all", malformed),
        ("malformed", lambda: bytes(range(256)) * 4, malformed),
        ("malformed", broken_base64, malformed),
        ("not_certificate", public_key_only, "The file does not contain a certificate (PEM block CERTIFICATE)."),
        (
            "several",
            lambda: pem(make_cert("a.test")[0]) + pem(make_cert("b.test")[0]),
            "The file contains more than one certificate. Upload only your own certificate, not its chain.",
        ),
        (
            "too_large",
            lambda: pem(make_cert()[0]) + b"#" * CERTIFICATE_MAX_BYTES,
            "The file is larger than 64 KiB; a certificate is a few KiB at most.",
        ),
        ("empty", lambda: b"   \n", "Choose a certificate file or paste a certificate."),
    ]


@pytest.mark.parametrize(
    ("code", "build", "msgid"), _refusals(), ids=[f"{i}-{c[0]}" for i, c in enumerate(_refusals())]
)
def test_bad_uploads_are_refused_with_a_message_and_nothing_is_stored(
    world: World, client: Client, code: str, build: Any, msgid: str
) -> None:
    z = world.zon
    login(client, z.people["sb"])
    data = build()
    before = AuditEvent.objects.count()
    response = upload(client, z.sd.pk, data)
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1
    expected = nl(msgid)
    if "%(date)s" in msgid:
        expected = expected.split("%(date)s")[0]
    assert errors[0].startswith(expected)
    assert escape(errors[0]) in response.content.decode()
    assert not Certificate.objects.exists()
    assert AuditEvent.objects.count() == before
    # The service says the same, with a code other programs can rely on.
    if code != "empty":
        with pytest.raises(ValidationError) as exc:
            certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=data)
        assert exc.value.code == code
    assert not Certificate.objects.exists()


def test_the_private_key_never_reaches_the_database(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    cert, key = make_cert()
    secret = key_pem(key).decode().splitlines()[1]
    upload(client, z.sd.pk, pem(cert) + key_pem(key))
    assert not Certificate.objects.exists()
    assert not [e for e in AuditEvent.objects.all() if secret in str(e.before) + str(e.after) + e.reason]


def test_the_same_certificate_twice_is_refused(world: World, client: Client) -> None:
    z = world.zon
    cert, _key = make_cert()
    login(client, z.people["sb"])
    assert upload(client, z.sd.pk, pem(cert)).status_code == 302
    again = upload(client, z.sd.pk, pem(cert))
    assert again.status_code == 200
    assert again.context["form"].non_field_errors() == [nl("This certificate is already registered.")]
    # Also in another enterprise: one certificate identifies one subdepartment's systems.
    login(client, world.ander.people["sb"])
    assert upload(client, world.ander.sd.pk, pem(cert)).status_code == 200
    assert Certificate.objects.count() == 1


def test_file_and_text_together_or_neither_are_refused(world: World, client: Client) -> None:
    z = world.zon
    login(client, z.people["sb"])
    cert = pem(make_cert()[0])
    both = client.post(
        url("portal:certificates", z.sd.pk), {"file": SimpleUploadedFile("a.pem", cert), "text": cert.decode()}
    )
    assert both.context["form"].non_field_errors() == [nl("Choose a file or paste a certificate, not both.")]
    neither = client.post(url("portal:certificates", z.sd.pk), {"text": ""})
    assert neither.context["form"].non_field_errors() == [nl("Choose a certificate file or paste a certificate.")]
    assert not Certificate.objects.exists()


def test_a_large_upload_is_not_read_whole(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        certificate_parse(b"-----BEGIN CERTIFICATE-----\n" + b"A" * CERTIFICATE_MAX_BYTES)
    assert exc.value.code == "too_large"


# --- Revoke and replace -----------------------------------------------------------------------------


def test_revoke_keeps_the_certificate_with_who_when_and_why(world: World, client: Client) -> None:
    z = world.zon
    cert, _key = make_cert()
    c = certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=pem(cert))
    login(client, z.people["cosb"])
    page = url("portal:certificate_revoke", z.sd.pk, c.pk)
    assert escape(c.subject) in client.get(page).content.decode()
    response = client.post(page, {"reason": "sleutel gelekt"})
    assert response.status_code == 302
    c.refresh_from_db()
    assert c.valid_until is not None and c.ended_by == z.people["cosb"] and c.end_reason == "sleutel gelekt"
    assert c.status == CertificateStatus.REVOKED
    event = AuditEvent.objects.get(action="certificate.revoke")
    assert event.before is not None and event.after is not None
    assert event.before["revoked"] is False and event.after["revoked"] is True and event.reason == "sleutel gelekt"
    html = client.get(url("portal:certificates", z.sd.pk)).content.decode()
    assert nl("Revoked") in html and "sleutel gelekt" in html and page not in html
    # Twice: refused, nothing changes.
    ended = c.valid_until
    again = client.post(page, {"reason": "nog eens"})
    assert again.status_code == 200 and nl("This certificate has already been revoked.") in again.content.decode()
    c.refresh_from_db()
    assert c.valid_until == ended and c.end_reason == "sleutel gelekt"
    assert AuditEvent.objects.filter(action="certificate.revoke").count() == 1
    # A revoked certificate cannot come back.
    with pytest.raises(ValidationError) as exc:
        certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=pem(cert))
    assert exc.value.code == "revoked"


def test_replace_uploads_the_new_and_revokes_the_old_at_once(world: World, client: Client) -> None:
    z = world.zon
    old_cert, key = make_cert()
    old = certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=pem(old_cert))
    new_cert, _key = make_cert(key=key, days_after=730)  # a renewal with the same key
    login(client, z.people["sb"])
    page = url("portal:certificate_replace", z.sd.pk, old.pk)
    response = client.post(page, {"file": SimpleUploadedFile("new.pem", pem(new_cert)), "text": ""})
    assert response.status_code == 302
    old.refresh_from_db()
    new = Certificate.objects.get(fingerprint_sha256=fingerprint(new_cert))
    assert new.replaces == old and new.valid_until is None
    assert old.valid_until is not None and old.end_reason == "replaced" and old.ended_by == z.people["sb"]
    assert list(
        AuditEvent.objects.filter(action__startswith="certificate.").order_by("id").values_list("action", flat=True)
    ) == [
        "certificate.upload",
        "certificate.upload",
        "certificate.revoke",
    ]


def test_a_refused_replacement_changes_nothing(world: World, client: Client) -> None:
    z = world.zon
    old = certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=pem(make_cert()[0]))
    login(client, z.people["sb"])  # the login itself is audited; count after it
    before = AuditEvent.objects.count()
    expired = pem(make_cert(days_before=30, days_after=-2)[0])
    response = client.post(url("portal:certificate_replace", z.sd.pk, old.pk), {"text": expired.decode()})
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    old.refresh_from_db()
    assert old.valid_until is None and Certificate.objects.count() == 1 and AuditEvent.objects.count() == before
    # In the service: the successor is refused, so the old one is not revoked either.
    with pytest.raises(ValidationError):
        certificate_replace(actor=z.people["sb"], certificate=old, data=pem(old_cert_copy(old)))
    old.refresh_from_db()
    assert old.valid_until is None


def old_cert_copy(c: Certificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(c.pem.encode())


def test_an_expired_certificate_shows_as_expired_and_can_be_replaced(world: World, client: Client) -> None:
    z = world.zon
    c = certificate_upload(actor=z.people["sb"], subdepartment=z.sd, data=pem(make_cert()[0]))
    Certificate.objects.filter(pk=c.pk).update(not_valid_after=timezone.now() - dt.timedelta(days=1))
    login(client, z.people["sb"])
    html = client.get(url("portal:certificates", z.sd.pk)).content.decode()
    assert nl("Expired") in html and url("portal:certificate_replace", z.sd.pk, c.pk) in html
    successor = make_cert()[0]
    response = client.post(url("portal:certificate_replace", z.sd.pk, c.pk), {"text": pem(successor).decode()})
    assert response.status_code == 302
    assert Certificate.objects.get(pk=c.pk).end_reason == "replaced"


# --- Scope ------------------------------------------------------------------------------------------


@pytest.fixture
def zon_cert(world: World) -> Certificate:
    return certificate_upload(
        actor=world.zon.people["sb"], subdepartment=world.zon.sd, data=pem(make_cert("zon.test")[0])
    )


@pytest.fixture
def sd2_cert(world: World) -> Certificate:
    return certificate_upload(
        actor=world.zon.people["sb2"], subdepartment=world.zon.sd2, data=pem(make_cert("sd2.test")[0])
    )


def _cert_urls(sd_pk: int, cert_pk: int) -> list[str]:
    return [
        url("portal:certificates", sd_pk),
        url("portal:certificate_revoke", sd_pk, cert_pk),
        url("portal:certificate_replace", sd_pk, cert_pk),
    ]


def _assert_untouched(c: Certificate) -> None:
    c.refresh_from_db()
    assert c.valid_until is None and not Certificate.objects.filter(replaces=c).exists()


def test_ander_sb_can_neither_see_nor_revoke_zons_certificate(
    world: World, client: Client, zon_cert: Certificate
) -> None:
    ander_sb = world.ander.people["sb"]
    login(client, ander_sb)
    new = pem(make_cert("intruder.test")[0]).decode()
    # Through zon's subdepartment URL, and through ander's own subdepartment with zon's certificate id.
    for u in [*_cert_urls(world.zon.sd.pk, zon_cert.pk), *_cert_urls(world.ander.sd.pk, zon_cert.pk)[1:]]:
        response = client.get(u)
        assert response.status_code == 404, u
        assert "zon.test" not in response.content.decode()
        assert client.post(u, {"reason": "weg", "text": new}).status_code == 404, u
    _assert_untouched(zon_cert)
    assert Certificate.objects.count() == 1
    with pytest.raises(PermissionDenied):
        certificate_revoke(actor=ander_sb, certificate=zon_cert, reason="weg")
    with pytest.raises(PermissionDenied):
        certificate_upload(actor=ander_sb, subdepartment=world.zon.sd, data=new.encode())
    _assert_untouched(zon_cert)


def test_sb_cannot_reach_the_sibling_subdepartments_certificates(
    world: World, client: Client, sd2_cert: Certificate
) -> None:
    z = world.zon
    login(client, z.people["sb"])
    for u in [*_cert_urls(z.sd2.pk, sd2_cert.pk), *_cert_urls(z.sd.pk, sd2_cert.pk)[1:]]:
        assert client.get(u).status_code == 404, u
        assert client.post(u, {"reason": "weg"}).status_code == 404, u
    assert "sd2.test" not in client.get(url("portal:certificates", z.sd.pk)).content.decode()
    _assert_untouched(sd2_cert)
    with pytest.raises(PermissionDenied):
        certificate_revoke(actor=z.people["sb"], certificate=sd2_cert)
    _assert_untouched(sd2_cert)


@pytest.mark.parametrize("who", ["user", "nobody", "lr", "ander_htb"])
def test_people_without_a_manager_role_here_get_404(
    world: World, client: Client, who: str, zon_cert: Certificate
) -> None:
    login(client, world.person(who))
    for u in _cert_urls(world.zon.sd.pk, zon_cert.pk):
        assert client.get(u).status_code == 404, (who, u)
        assert client.post(u, {"reason": "weg"}).status_code == 404, (who, u)
    _assert_untouched(zon_cert)


@pytest.mark.parametrize("who", ["tb", "htb", "cosb"])
def test_managers_above_the_subdepartment_manage_its_certificates(
    world: World, client: Client, who: str, zon_cert: Certificate
) -> None:
    login(client, world.person(who))
    assert "zon.test" in client.get(url("portal:certificates", world.zon.sd.pk)).content.decode()
    assert (
        client.post(url("portal:certificate_revoke", world.zon.sd.pk, zon_cert.pk), {"reason": who}).status_code == 302
    )
    zon_cert.refresh_from_db()
    assert zon_cert.ended_by == world.person(who)
