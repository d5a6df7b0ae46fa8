"""Beheer van het certificaat: upload, replace and revoke the X.509 certificate a subdepartment's
systems call the API with; every refusal says why and stores nothing; no other scope is reachable.

Every upload carries a proof of possession (a signature with the certificate's key over a text
toegang issued for the subdepartment, issue 12 F11): ``proof`` makes one for a certificate whose
key the test made; the proof itself and the cross-tenant rules are tested at the end.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
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
from toegang.organisations.models import Certificate, CertificateStatus, Subdepartment
from toegang.organisations.selectors import certificate_for_call
from toegang.organisations.services import (
    CERTIFICATE_MAX_BYTES,
    certificate_challenge,
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
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
# The private key of every certificate the tests made, by fingerprint: what the organisation holds.
_keys: dict[str, PrivateKey] = {}


def make_cert(
    cn: str = "api.zonnebloem.test",
    *,
    days_before: int = 1,
    days_after: int = 365,
    key: PrivateKey | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
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
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    _keys[fingerprint(cert)] = key
    return cert, key


def sign(key: PrivateKey, text: str) -> str:
    """What ``openssl dgst -sha256 -sign`` makes (ECDSA, RSA PKCS#1 v1.5), or Ed25519's pure signature."""
    message = text.encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = key.sign(message)
    return base64.b64encode(raw).decode()


def proof(sd: Subdepartment, data: bytes) -> dict[str, str]:
    """A valid proof of possession for the certificate in ``data``, if the test made its key."""
    try:
        key = _keys.get(fingerprint(certificate_parse(data)))
    except ValidationError:
        key = None
    if key is None:
        return {}
    challenge = certificate_challenge(sd)
    return {"challenge": challenge, "signature": sign(key, challenge)}


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def upload(client: Client, sd_pk: int, data: bytes, name: str = "api.pem", **extra: str) -> Any:
    """The upload form, with the proof a holder of the key would give (unless ``extra`` gives one)."""
    fields = {"file": SimpleUploadedFile(name, data), "text": "", **proof(Subdepartment.objects.get(pk=sd_pk), data)}
    return client.post(url("portal:certificates", sd_pk), {**fields, **extra})


def upload_as(actor: Any, sd: Subdepartment, data: bytes) -> Certificate:
    """The service, with the proof a holder of the key would give."""
    return certificate_upload(actor=actor, subdepartment=sd, data=data, **proof(sd, data))


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
    r1 = client.post(
        url("portal:certificates", z.sd.pk),
        {"text": "\n  " + pem(pasted).decode() + "\n", **proof(z.sd, pem(pasted))},
    )
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
    assert again.context["form"].non_field_errors() == [
        nl("This certificate is already registered for this subdepartment.")
    ]
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
    c = upload_as(z.people["sb"], z.sd, pem(cert))
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
        upload_as(z.people["sb"], z.sd, pem(cert))
    assert exc.value.code == "revoked"


def test_replace_uploads_the_new_and_revokes_the_old_at_once(world: World, client: Client) -> None:
    z = world.zon
    old_cert, key = make_cert()
    old = upload_as(z.people["sb"], z.sd, pem(old_cert))
    new_cert, _key = make_cert(key=key, days_after=730)  # a renewal with the same key
    login(client, z.people["sb"])
    page = url("portal:certificate_replace", z.sd.pk, old.pk)
    form = client.get(page)
    assert f'name="challenge" value="{form.context["challenge"]}"' in form.content.decode()  # the proof, as for uploads
    response = client.post(
        page, {"file": SimpleUploadedFile("new.pem", pem(new_cert)), "text": "", **proof(z.sd, pem(new_cert))}
    )
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
    old = upload_as(z.people["sb"], z.sd, pem(make_cert()[0]))
    login(client, z.people["sb"])  # the login itself is audited; count after it
    before = AuditEvent.objects.count()
    expired = pem(make_cert(days_before=30, days_after=-2)[0])
    response = client.post(url("portal:certificate_replace", z.sd.pk, old.pk), {"text": expired.decode()})
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    old.refresh_from_db()
    assert old.valid_until is None and Certificate.objects.count() == 1 and AuditEvent.objects.count() == before
    # In the service: the successor is refused, so the old one is not revoked either.
    with pytest.raises(ValidationError):
        certificate_replace(
            actor=z.people["sb"], certificate=old, data=pem(old_cert_copy(old)), **proof(z.sd, old.pem.encode())
        )
    old.refresh_from_db()
    assert old.valid_until is None


def old_cert_copy(c: Certificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(c.pem.encode())


def test_an_expired_certificate_shows_as_expired_and_can_be_replaced(world: World, client: Client) -> None:
    z = world.zon
    c = upload_as(z.people["sb"], z.sd, pem(make_cert()[0]))
    Certificate.objects.filter(pk=c.pk).update(not_valid_after=timezone.now() - dt.timedelta(days=1))
    login(client, z.people["sb"])
    html = client.get(url("portal:certificates", z.sd.pk)).content.decode()
    assert nl("Expired") in html and url("portal:certificate_replace", z.sd.pk, c.pk) in html
    successor = make_cert()[0]
    response = client.post(
        url("portal:certificate_replace", z.sd.pk, c.pk),
        {"text": pem(successor).decode(), **proof(z.sd, pem(successor))},
    )
    assert response.status_code == 302
    assert Certificate.objects.get(pk=c.pk).end_reason == "replaced"


# --- Scope ------------------------------------------------------------------------------------------


@pytest.fixture
def zon_cert(world: World) -> Certificate:
    return upload_as(world.zon.people["sb"], world.zon.sd, pem(make_cert("zon.test")[0]))


@pytest.fixture
def sd2_cert(world: World) -> Certificate:
    return upload_as(world.zon.people["sb2"], world.zon.sd2, pem(make_cert("sd2.test")[0]))


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


# --- Proof of possession, and one certificate in several organisations (issue 12 F11) -------------

PROOF_MISSING = "Sign the text shown with the certificate's private key and paste the signature."
PROOF_INVALID = (
    "The signature does not match this certificate: sign the text shown with the private key "
    "of this certificate, and paste the signature in base64."
)
PROOF_EXPIRED = "The text to sign has expired or belongs to another page: sign the new text shown."


def _errors(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return list(response.context["form"].non_field_errors())


def test_another_organisations_certificate_cannot_be_registered_without_its_key(world: World, client: Client) -> None:
    """The attack: ander's SB copies zon's (public) certificate and registers it first for ander's
    subdepartment, so that zon's is refused or ander's systems pass for zon's."""
    zon_cert, zon_key = make_cert("api.zon.test")
    login(client, world.ander.people["sb"])
    ander_sd = world.ander.sd
    challenge = certificate_challenge(ander_sd)
    own_key = ec.generate_private_key(ec.SECP256R1())
    zon_signature_for_zon = proof(world.zon.sd, pem(zon_cert))  # e.g. seen over a shoulder
    for extra, message in (
        ({"challenge": challenge, "signature": ""}, PROOF_MISSING),
        ({"challenge": challenge, "signature": sign(own_key, challenge)}, PROOF_INVALID),
        ({"challenge": challenge, "signature": "bm90IGEgc2lnbmF0dXJl"}, PROOF_INVALID),
        ({"challenge": challenge, "signature": "%%% not base64 %%%"}, PROOF_INVALID),
        (zon_signature_for_zon, PROOF_EXPIRED),  # a text issued for another subdepartment
        ({"challenge": challenge[:-3] + "xyz", "signature": sign(zon_key, challenge[:-3] + "xyz")}, PROOF_EXPIRED),
    ):
        assert _errors(upload(client, ander_sd.pk, pem(zon_cert), **extra)) == [nl(message)], extra
    assert not Certificate.objects.exists()
    # Zon, holding the key, registers it; ander's attempts changed nothing.
    login(client, world.zon.people["sb"])
    assert upload(client, world.zon.sd.pk, pem(zon_cert)).status_code == 302
    assert Certificate.objects.get().subdepartment == world.zon.sd


def test_a_duplicate_in_another_organisation_is_no_oracle(world: World, client: Client) -> None:
    """Whether another organisation registered a certificate changes no answer: without the key the
    refusal is the one for any certificate, and with it the registration is simply accepted."""
    registered, _key = make_cert("registered.zon.test")
    upload_as(world.zon.people["sb"], world.zon.sd, pem(registered))
    fresh, _fresh_key = make_cert("never.registered.test")
    login(client, world.ander.people["sb"])
    ander_sd = world.ander.sd
    challenge = certificate_challenge(ander_sd)
    other_key = ec.generate_private_key(ec.SECP256R1())
    for extra in (
        {"challenge": challenge, "signature": ""},
        {"challenge": challenge, "signature": sign(other_key, challenge)},
    ):
        answers = [upload(client, ander_sd.pk, pem(c), **extra) for c in (registered, fresh)]
        assert _errors(answers[0]) == _errors(answers[1]), extra
    # The key holder (a software house serving both, say) registers the same certificate for ander too.
    assert upload(client, ander_sd.pk, pem(registered)).status_code == 302
    names = sorted(Certificate.objects.values_list("subdepartment__name", flat=True))
    assert names == ["Facility A", "ander_Facility A"]
    # Revoked in zon's subdepartment: it cannot come back there, and ander's stays.
    zon_c = Certificate.objects.get(subdepartment=world.zon.sd)
    certificate_revoke(actor=world.zon.people["sb"], certificate=zon_c, reason="key lost")
    with pytest.raises(ValidationError) as exc:
        upload_as(world.zon.people["sb"], world.zon.sd, pem(registered))
    assert exc.value.code == "revoked"
    assert Certificate.objects.get(subdepartment=ander_sd).is_active()


def test_a_call_with_a_shared_certificate_is_matched_to_the_subdepartment_it_names(world: World) -> None:
    cert, _key = make_cert("shared.test")
    zon_c = upload_as(world.zon.people["sb"], world.zon.sd, pem(cert))
    ander_c = upload_as(world.ander.people["sb"], world.ander.sd, pem(cert))
    fp = fingerprint(cert)
    assert certificate_for_call(fp, world.zon.sd.pk) == zon_c
    assert certificate_for_call(zon_c.fingerprint_display, world.ander.sd.pk) == ander_c  # AA:BB:… too
    # Not for a subdepartment that did not register it (zon's sibling, or ander's own other one).
    assert certificate_for_call(fp, world.zon.sd2.pk) is None
    assert certificate_for_call(fp, world.ander.sd2.pk) is None
    # Revoked for zon: zon's calls are refused, ander's go on.
    certificate_revoke(actor=world.zon.people["sb"], certificate=zon_c, reason="weg")
    assert certificate_for_call(fp, world.zon.sd.pk) is None
    assert certificate_for_call(fp, world.ander.sd.pk) == ander_c
    # Outside its validity: refused.
    Certificate.objects.filter(pk=ander_c.pk).update(not_valid_after=timezone.now() - dt.timedelta(seconds=1))
    assert certificate_for_call(fp, world.ander.sd.pk) is None


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pss(key: Any, message: bytes) -> bytes:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    return bytes(key.sign(message, pss, hashes.SHA256()))


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


PROOF_FORMS: dict[str, tuple[Any, str]] = {
    "ec-p256": (_p256, "plain"),
    "ec-p384": (lambda: ec.generate_private_key(ec.SECP384R1()), "plain"),
    "rsa-pkcs1": (_rsa, "plain"),
    "rsa-pss": (_rsa, "pss"),
    "ed25519": (ed25519.Ed25519PrivateKey.generate, "plain"),
    "echo-newline": (_p256, "newline"),  # echo '…' | openssl dgst …
    "base64url": (_p256, "urlsafe"),
}


@pytest.mark.parametrize("kind", list(PROOF_FORMS))
def test_the_proof_is_accepted_in_the_forms_keys_and_tools_make(world: World, kind: str) -> None:
    make_key, form = PROOF_FORMS[kind]
    key = make_key()
    cert, _ = make_cert(f"{kind}.test", key=key)
    sd = world.zon.sd
    challenge = certificate_challenge(sd)
    if form == "newline":
        signature = sign(key, challenge + "\n")
    elif form == "urlsafe":
        signature = sign(key, challenge).replace("+", "-").replace("/", "_").rstrip("=")
    elif form == "pss":
        signature = base64.b64encode(_pss(key, challenge.encode())).decode()
    else:
        signature = sign(key, challenge)
    # Line breaks in the pasted signature (openssl base64 without -A) do not matter either.
    signature = "\n".join(signature[i : i + 64] for i in range(0, len(signature), 64))
    c = certificate_upload(
        actor=world.zon.people["sb"], subdepartment=sd, data=pem(cert), challenge=challenge, signature=signature
    )
    assert c.subdepartment == sd


def test_an_expired_text_to_sign_is_refused(world: World) -> None:
    sd = world.zon.sd
    cert, key = make_cert()
    with time_machine.travel(timezone.now() - dt.timedelta(hours=25), tick=False):
        challenge = certificate_challenge(sd)
    with pytest.raises(ValidationError) as exc:
        certificate_upload(
            actor=world.zon.people["sb"],
            subdepartment=sd,
            data=pem(cert),
            challenge=challenge,
            signature=sign(key, challenge),
        )
    assert exc.value.code == "proof_expired"
    assert not Certificate.objects.exists()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (apt-get install openssl)")
def test_the_openssl_command_the_page_shows_makes_a_valid_proof(world: World, client: Client, tmp_path: Path) -> None:
    """The page's instruction, run as shown, with an RSA key made by openssl itself."""
    key_file, cert_file = tmp_path / "private-key.pem", tmp_path / "cert.pem"
    make = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key_file),
        "-out",
        str(cert_file),
    ]
    subprocess.run([*make, "-days", "30", "-subj", "/CN=openssl.test"], check=True, capture_output=True)  # noqa: S603
    z = world.zon
    login(client, z.people["sb"])
    page = client.get(url("portal:certificates", z.sd.pk))
    challenge = page.context["challenge"]
    command = f"printf '%s' '{challenge}' | openssl dgst -sha256 -sign private-key.pem | openssl base64 -A"
    assert command in page.content.decode()  # the challenge has only characters HTML leaves alone
    run = subprocess.run(command, shell=True, cwd=tmp_path, check=True, capture_output=True, text=True)  # noqa: S602
    fields = {"file": SimpleUploadedFile("cert.pem", cert_file.read_bytes()), "text": ""}
    response = client.post(
        url("portal:certificates", z.sd.pk), {**fields, "challenge": challenge, "signature": run.stdout}
    )
    assert response.status_code == 302, _errors(response)
    assert Certificate.objects.get().subject == "CN=openssl.test"


def test_a_refused_upload_keeps_the_text_to_sign(world: World, client: Client) -> None:
    """A wrong file after signing: the page shows the same text, so the signature can be reused."""
    z = world.zon
    login(client, z.people["sb"])
    challenge = certificate_challenge(z.sd)
    response = upload(client, z.sd.pk, b"not a certificate", challenge=challenge, signature="")
    assert response.context["challenge"] == challenge
    assert client.get(url("portal:certificates", z.sd.pk)).context["challenge"] != challenge
