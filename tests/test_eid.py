"""eID / X.509 client-certificate login (level 500), with a CA, certificates and CRLs made here.

The header is what nginx's ``$ssl_client_escaped_cert`` sends; the Django test client comes from
127.0.0.1, the default trusted proxy. Every refusal: a translated message on the login page, an
audit event, no session, and the same words whether or not an account exists.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.contrib.sessions.backends.db import SessionStore
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from tests.conftest import World, login
from toegang.accounts.assurance import EID, session_amr, session_level
from toegang.accounts.eid import (
    MESSAGES,
    EidError,
    EidFailure,
    certificate_from_header,
    certificate_national_number,
    certificate_verify,
    is_trusted_proxy,
    proxies_parse,
)
from toegang.accounts.models import User
from toegang.audit.models import AuditEvent

NOW = dt.datetime.now(dt.UTC)
_serials = itertools.count(0x5000)


@dataclass
class CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, name: str = "Test Citizen CA") -> CA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"), x509.NameAttribute(NameOID.COMMON_NAME, name)]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(next(_serials))
            .not_valid_before(NOW - dt.timedelta(days=365))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def issue(
        self,
        ssin: str | None,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        signing: bool = False,
    ) -> x509.Certificate:
        attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"), x509.NameAttribute(NameOID.COMMON_NAME, "Test")]
        if ssin is not None:
            attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, ssin))
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(next(_serials))
            .not_valid_before(not_before or NOW - dt.timedelta(days=1))
            .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        )
        if signing:
            # The eID's second certificate: for signatures (nonRepudiation), not for logging in.
            builder = builder.add_extension(
                x509.KeyUsage(False, True, False, False, False, False, False, False, False), critical=True
            )
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def crl(
        self, revoked: list[x509.Certificate], *, next_update: dt.datetime | None = None
    ) -> x509.CertificateRevocationList:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(min(NOW, next_update or NOW) - dt.timedelta(days=1))
            .next_update(next_update or NOW + dt.timedelta(days=7))
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(NOW - dt.timedelta(minutes=30))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


def header(cert: x509.Certificate) -> str:
    # As nginx's $ssl_client_escaped_cert.
    return quote(cert.public_bytes(serialization.Encoding.PEM).decode(), safe="")


def nl(message: Any) -> str:
    with translation.override("nl"):
        return str(message)


EID_URL = "/nl/accounts/eid/"


@pytest.fixture
def ca() -> CA:
    return CA.make()


@pytest.fixture
def eid(settings: Any, tmp_path: Path, ca: CA) -> Path:
    """eID configured with ``ca`` as the bundle (beside another CA, as a real bundle holds several)."""
    bundle = tmp_path / "ca-bundle.pem"
    other = CA.make("Another Citizen CA")
    bundle.write_bytes(b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in (other, ca)))
    settings.EID_CA_BUNDLE = [str(bundle)]
    settings.EID_CRL = ""
    settings.EID_TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    settings.EID_HEADER = "X-SSL-Client-Cert"
    return tmp_path


def with_crl(settings: Any, tmp_path: Path, crl: x509.CertificateRevocationList, der: bool = False) -> None:
    path = tmp_path / ("crl.der" if der else "crl.pem")
    path.write_bytes(crl.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM))
    settings.EID_CRL = str(path)


def eid_get(client: Client, cert: x509.Certificate | str | None, url: str = EID_URL) -> Any:
    extra = {} if cert is None else {"HTTP_X_SSL_CLIENT_CERT": cert if isinstance(cert, str) else header(cert)}
    return client.get(url, **extra)  # type: ignore[arg-type]


def assert_refused(client: Client, response: Any, reason: EidFailure) -> AuditEvent:
    assert response.status_code == 302 and response["Location"].startswith("/nl/accounts/login/")
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"])
    assert escape(nl(MESSAGES[reason])) in page.content.decode()
    event = AuditEvent.objects.filter(action="login.eid.refused").latest("id")
    assert event.reason == reason.value and event.actor is None and event.object_type == "login"
    assert event.client_address is not None
    assert AuditEvent.objects.filter(action__startswith="login.eid.").latest("id") == event  # no success after it
    return event


# --- logging in ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_valid_certificate_logs_in_its_person_at_level_500(world: World, eid: Path, ca: CA) -> None:
    sb = world.person("sb")
    cert = ca.issue(sb.ssin)
    client = Client()
    response = eid_get(client, cert)
    assert response.status_code == 302 and response["Location"] == "/nl/"
    assert client.session["_auth_user_id"] == str(sb.pk)
    records = client.session["account_authentication_methods"]
    assert [r["method"] for r in records] == ["eid"]
    assert records[0]["serial"] == format(cert.serial_number, "x")
    assert records[0]["issuer"] == ca.cert.subject.rfc4514_string()
    event = AuditEvent.objects.get(action="login.eid.success")
    assert event.actor == sb and event.object_id == str(sb.pk)
    assert event.after == {
        "level": 500,
        "certificate_serial": format(cert.serial_number, "x"),
        "issuer": records[0]["issuer"],
    }
    home = client.get("/nl/")
    assert home.status_code == 200 and home.context["user"] == sb


@pytest.mark.django_db
def test_level_500_comes_from_the_eid_record(world: World, eid: Path, ca: CA, rf: Any) -> None:
    sb = world.person("sb")
    client = Client()
    eid_get(client, ca.issue(sb.ssin))
    request = rf.get("/nl/")
    request.session = SessionStore(client.session.session_key)
    request.user = sb
    assert session_level(request) == EID and session_amr(request) == ["sc"]


@pytest.mark.django_db
def test_next_is_followed_and_an_unsafe_next_is_not(world: World, eid: Path, ca: CA) -> None:
    sb = world.person("sb")
    response = eid_get(Client(), ca.issue(sb.ssin), f"{EID_URL}?next=/nl/help/")
    assert response["Location"] == "/nl/help/"
    response = eid_get(Client(), ca.issue(sb.ssin), f"{EID_URL}?next=https://evil.example/")
    assert response["Location"] == "/nl/"


@pytest.mark.django_db
def test_eid_is_not_followed_by_the_app_code(world: World, eid: Path, ca: CA) -> None:
    # The card and its PIN are two factors already; a person with an authenticator app is not asked
    # for its code after the eID (as they are after a password).
    sb = world.person("sb")
    TOTP.activate(sb, "JBSWY3DPEHPK3PXP")
    assert Authenticator.objects.filter(user=sb, type=Authenticator.Type.TOTP).exists()
    client = Client()
    response = eid_get(client, ca.issue(sb.ssin))
    assert response["Location"] == "/nl/" and client.session["_auth_user_id"] == str(sb.pk)
    # ... whereas the password alone is not enough.
    password = Client().post("/nl/accounts/login/", {"login": sb.username, "password": "a-long-test-password-1"})
    assert "/accounts/2fa/authenticate/" in password["Location"]


@pytest.mark.django_db
def test_step_up_keeps_the_password_record_and_adds_the_eid(world: World, eid: Path, ca: CA) -> None:
    sb = world.person("sb")
    client = Client()
    client.post("/nl/accounts/login/", {"login": sb.username, "password": "a-long-test-password-1"})
    assert client.session["_auth_user_id"] == str(sb.pk)
    eid_get(client, ca.issue(sb.ssin))
    assert [r["method"] for r in client.session["account_authentication_methods"]] == ["password", "eid"]


@pytest.mark.django_db
def test_another_persons_session_is_replaced(world: World, eid: Path, ca: CA) -> None:
    sb, tb = world.person("sb"), world.person("tb")
    client = login(Client(), tb)
    eid_get(client, ca.issue(sb.ssin))
    assert client.session["_auth_user_id"] == str(sb.pk)
    assert [r["method"] for r in client.session["account_authentication_methods"]] == ["eid"]


@pytest.mark.django_db
def test_header_folded_into_spaces_is_read(world: World, eid: Path, ca: CA) -> None:
    # Apache and nginx's old $ssl_client_cert fold the PEM's line breaks.
    sb = world.person("sb")
    folded = " ".join(unquote(header(ca.issue(sb.ssin))).splitlines())
    client = Client()
    eid_get(client, folded)
    assert client.session["_auth_user_id"] == str(sb.pk)


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expired_certificate(world: World, eid: Path, ca: CA) -> None:
    cert = ca.issue(
        world.person("sb").ssin, not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1)
    )
    client = Client()
    event = assert_refused(client, eid_get(client, cert), EidFailure.EXPIRED)
    assert event.after and event.after["certificate_serial"] == format(cert.serial_number, "x")


@pytest.mark.django_db
def test_certificate_not_yet_valid(world: World, eid: Path, ca: CA) -> None:
    cert = ca.issue(world.person("sb").ssin, not_before=NOW + dt.timedelta(days=1))
    client = Client()
    assert_refused(client, eid_get(client, cert), EidFailure.NOT_YET_VALID)


@pytest.mark.django_db
def test_certificate_of_another_ca(world: World, eid: Path) -> None:
    # Same issuer name as the configured CA, another key: only the signature tells them apart.
    impostor = CA.make("Test Citizen CA")
    client = Client()
    assert_refused(client, eid_get(client, impostor.issue(world.person("sb").ssin)), EidFailure.UNTRUSTED_ISSUER)


@pytest.mark.django_db
@pytest.mark.parametrize("der", [False, True], ids=["pem", "der"])
def test_revoked_certificate(world: World, eid: Path, ca: CA, settings: Any, der: bool) -> None:
    sb = world.person("sb")
    revoked, good = ca.issue(sb.ssin), ca.issue(sb.ssin)
    with_crl(settings, eid, ca.crl([revoked]), der=der)
    client = Client()
    assert_refused(client, eid_get(client, revoked), EidFailure.REVOKED)
    eid_get(client, good)
    assert client.session["_auth_user_id"] == str(sb.pk)


@pytest.mark.django_db
def test_unknown_insz_is_told_nothing_about_accounts(world: World, eid: Path, ca: CA) -> None:
    client = Client()
    unknown = "85073003328"
    assert not User.objects.filter(ssin=unknown).exists()
    event = assert_refused(client, eid_get(client, ca.issue(unknown)), EidFailure.UNKNOWN_PERSON)
    assert event.object_id == "" and event.actor is None
    # The same words as a certificate from an unknown CA, and as a blocked account.
    assert MESSAGES[EidFailure.UNKNOWN_PERSON] == MESSAGES[EidFailure.UNTRUSTED_ISSUER]
    assert MESSAGES[EidFailure.UNKNOWN_PERSON] == MESSAGES[EidFailure.INACTIVE_PERSON]


@pytest.mark.django_db
def test_blocked_person_is_refused_with_the_same_words(world: World, eid: Path, ca: CA) -> None:
    sb = world.person("sb")
    User.objects.filter(pk=sb.pk).update(is_active=False)
    client = Client()
    assert_refused(client, eid_get(client, ca.issue(sb.ssin)), EidFailure.INACTIVE_PERSON)


@pytest.mark.django_db
def test_header_from_an_untrusted_address_is_ignored(world: World, eid: Path, ca: CA) -> None:
    # Somebody reaching gunicorn directly, around nginx, with a (even valid) certificate header.
    client = Client(REMOTE_ADDR="203.0.113.7")
    event = assert_refused(client, eid_get(client, ca.issue(world.person("sb").ssin)), EidFailure.UNTRUSTED_PROXY)
    assert event.client_address == "203.0.113.7"
    assert MESSAGES[EidFailure.UNTRUSTED_PROXY] == MESSAGES[EidFailure.NO_CERTIFICATE]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    ["garbage", quote("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), "A" * 20000],
    ids=["no-pem", "not-der", "too-long"],
)
def test_malformed_header(world: World, eid: Path, value: str) -> None:
    client = Client()
    assert_refused(client, eid_get(client, value), EidFailure.MALFORMED)


@pytest.mark.django_db
def test_no_certificate(world: World, eid: Path) -> None:
    client = Client()
    assert_refused(client, eid_get(client, None), EidFailure.NO_CERTIFICATE)


@pytest.mark.django_db
def test_certificate_without_serial_number(world: World, eid: Path, ca: CA) -> None:
    client = Client()
    assert_refused(client, eid_get(client, ca.issue(None)), EidFailure.NO_NATIONAL_NUMBER)


@pytest.mark.django_db
def test_signature_certificate_is_not_a_login(world: World, eid: Path, ca: CA) -> None:
    client = Client()
    assert_refused(client, eid_get(client, ca.issue(world.person("sb").ssin, signing=True)), EidFailure.WRONG_USAGE)


@pytest.mark.django_db
def test_not_configured(world: World, settings: Any, ca: CA) -> None:
    settings.EID_CA_BUNDLE = []
    client = Client()
    assert_refused(client, eid_get(client, ca.issue(world.person("sb").ssin)), EidFailure.NOT_CONFIGURED)


@pytest.mark.django_db
def test_failure_keeps_next_on_the_way_back(world: World, eid: Path) -> None:
    response = Client().get(f"{EID_URL}?next=/nl/help/")
    assert response["Location"] == "/nl/accounts/login/?next=%2Fnl%2Fhelp%2F"


@pytest.mark.django_db
def test_certificate_nginx_refused_never_logs_in_but_says_why(world: World, eid: Path, ca: CA, settings: Any) -> None:
    # nginx's error_page 495 sends a certificate it refused in X-SSL-Client-Cert-Refused, so that the
    # login page can say why; even one the application would accept (nginx's CRL may be newer) is refused.
    sb = world.person("sb")
    client = Client()
    response = client.get(EID_URL, HTTP_X_SSL_CLIENT_CERT_REFUSED=header(ca.issue(sb.ssin)))
    assert_refused(client, response, EidFailure.REFUSED_BY_PROXY)
    revoked = ca.issue(sb.ssin)
    with_crl(settings, eid, ca.crl([revoked]))
    response = client.get(EID_URL, HTTP_X_SSL_CLIENT_CERT_REFUSED=header(revoked))
    assert_refused(client, response, EidFailure.REVOKED)
    outsider = Client(REMOTE_ADDR="203.0.113.7")
    response = outsider.get(EID_URL, HTTP_X_SSL_CLIENT_CERT_REFUSED=header(revoked))
    assert_refused(outsider, response, EidFailure.UNTRUSTED_PROXY)


# --- the pure functions --------------------------------------------------------------------------


def test_revocation_needs_a_current_crl_signed_by_the_issuer(ca: CA) -> None:
    cert = ca.issue("85073003328")
    assert certificate_verify(cert, cas=[ca.cert], crls=None, now=NOW) == ca.cert
    assert certificate_verify(cert, cas=[ca.cert], crls=[ca.crl([])], now=NOW) == ca.cert
    stale = ca.crl([], next_update=NOW - dt.timedelta(minutes=1))
    other = CA.make("Test Citizen CA")  # same name, other key: its CRL does not speak for ca
    for crls in ([], [stale], [other.crl([])]):
        with pytest.raises(EidError) as exc:
            certificate_verify(cert, cas=[ca.cert], crls=crls, now=NOW)
        assert exc.value.reason == EidFailure.REVOCATION_UNKNOWN
    # A stale CRL that lists the certificate still revokes it: a revocation is final.
    with pytest.raises(EidError) as exc:
        certificate_verify(cert, cas=[ca.cert], crls=[ca.crl([cert], next_update=NOW - dt.timedelta(days=1))], now=NOW)
    assert exc.value.reason == EidFailure.REVOKED


def test_forged_crl_does_not_revoke(ca: CA) -> None:
    cert = ca.issue("85073003328")
    forger = CA.make("Test Citizen CA")
    assert certificate_verify(cert, cas=[ca.cert], crls=[forger.crl([cert]), ca.crl([])], now=NOW) == ca.cert


def test_validity_is_checked_at_the_given_time(ca: CA) -> None:
    cert = ca.issue("85073003328")
    with pytest.raises(EidError) as exc:
        certificate_verify(cert, cas=[ca.cert], crls=None, now=NOW + dt.timedelta(days=400))
    assert exc.value.reason == EidFailure.EXPIRED


def test_a_ca_certificate_that_is_no_ca_issues_nothing(ca: CA) -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not a CA")])
    not_ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(leaf_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(leaf_key, hashes.SHA256())
    )
    child = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "85073003328")]))
        .issuer_name(name)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(2)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(leaf_key, hashes.SHA256())
    )
    with pytest.raises(EidError) as exc:
        certificate_verify(child, cas=[not_ca], crls=None, now=NOW)
    assert exc.value.reason == EidFailure.UNTRUSTED_ISSUER


def test_national_number_is_the_subject_serial_number(ca: CA) -> None:
    assert certificate_national_number(ca.issue("85073003328")) == "85073003328"
    for bad in (None, "12345", "85073003329"):  # missing, short, wrong check digits
        with pytest.raises(EidError) as exc:
            certificate_national_number(ca.issue(bad))
        assert exc.value.reason == EidFailure.NO_NATIONAL_NUMBER


def test_header_parsing(ca: CA) -> None:
    cert = ca.issue("85073003328")
    assert certificate_from_header(header(cert)) == cert
    assert certificate_from_header(cert.public_bytes(serialization.Encoding.PEM).decode()) == cert
    with pytest.raises(EidError):
        certificate_from_header("")


def test_trusted_proxies() -> None:
    proxies = proxies_parse(["127.0.0.1", "10.0.0.0/8", " ::1 "])
    assert is_trusted_proxy("127.0.0.1", proxies) and is_trusted_proxy("10.2.3.4", proxies)
    assert is_trusted_proxy("::1", proxies)
    for address in ("127.0.0.2", "192.168.1.1", "", None, "not-an-address"):
        assert not is_trusted_proxy(address, proxies)
    with pytest.raises(ValueError):
        proxies_parse(["nginx.local"])


# --- configuration, login page, test certificate --------------------------------------------------


def _eid_errors() -> list[str]:
    return [e.id for e in run_checks() if e.id and e.id.startswith("toegang.E04")]


def test_system_check_refuses_an_unreadable_bundle(settings: Any, tmp_path: Path, ca: CA) -> None:
    settings.EID_CA_BUNDLE, settings.EID_CRL, settings.EID_TRUSTED_PROXIES = [], "", ["127.0.0.1"]
    assert _eid_errors() == []
    settings.EID_CA_BUNDLE = [str(tmp_path / "missing.pem")]
    assert _eid_errors() == ["toegang.E042"]
    (tmp_path / "garbage.pem").write_text("not a certificate")
    settings.EID_CA_BUNDLE = [str(tmp_path / "garbage.pem")]
    assert _eid_errors() == ["toegang.E042"]
    (tmp_path / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    settings.EID_CA_BUNDLE = [str(tmp_path / "ca.pem")]
    assert _eid_errors() == []
    settings.EID_CRL = str(tmp_path / "garbage.pem")
    settings.EID_TRUSTED_PROXIES = ["proxy.example"]
    assert sorted(_eid_errors()) == ["toegang.E041", "toegang.E043"]


@pytest.mark.django_db
def test_login_page_offers_the_methods_of_the_manual(world: World, eid: Path) -> None:
    page = Client().get("/nl/accounts/login/?next=/nl/help/").content.decode()
    with translation.override("nl"):
        for msgid in (
            "Get access to the secured services",
            "With your electronic identity card (eID)",
            "With your security key or passkey",
            "With a unique code generated by a mobile app",
            "With your access codes (username and password)",
        ):
            assert escape(gettext(msgid)) in page, msgid
    assert 'href="/nl/accounts/eid/?next=/nl/help/"' in page or 'href="/nl/accounts/eid/?next=%2Fnl%2Fhelp%2F"' in page
    assert 'name="password"' in page and 'form="mfa_login"' in page


@pytest.mark.django_db
def test_login_page_without_eid_says_it_is_not_configured(world: World, settings: Any) -> None:
    settings.EID_CA_BUNDLE = []
    page = Client().get("/nl/accounts/login/").content.decode()
    assert 'href="/nl/accounts/eid/' not in page
    with translation.override("nl"):
        assert escape(gettext("Login with the eID is not configured on this server.")) in page


@pytest.mark.django_db
def test_eid_test_certificate_command_gives_a_working_curl(world: World, settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    sb = world.person("sb")
    out = StringIO()
    call_command("eid_test_certificate", sb.username, stdout=out)
    text = out.getvalue()
    bundle = tmp_path / "eid" / "ca-bundle.pem"
    assert f"TOEGANG_EID_CA_BUNDLE={bundle}" in text
    curl = re.search(r'curl -sS -i -c cookies -H "X-SSL-Client-Cert: (\S+)" (\S+)', text)
    assert curl is not None and curl.group(2).endswith("/nl/accounts/eid/")
    settings.EID_CA_BUNDLE, settings.EID_CRL, settings.EID_TRUSTED_PROXIES = [str(bundle)], "", ["127.0.0.1"]
    client = Client()
    eid_get(client, curl.group(1))
    assert client.session["_auth_user_id"] == str(sb.pk)
    # --revoke lists that certificate in the CRL the command writes; with the CRL configured it is refused.
    call_command("eid_test_certificate", sb.username, "--revoke", stdout=StringIO())
    settings.EID_CRL = str(tmp_path / "eid" / "crl.pem")
    client = Client()
    assert_refused(client, eid_get(client, curl.group(1)), EidFailure.REVOKED)
    # A second run keeps the CA (certificates made before stay valid) and makes a new certificate.
    ca_before = (tmp_path / "eid" / "ca.pem").read_bytes()
    call_command("eid_test_certificate", sb.username, stdout=StringIO())
    assert (tmp_path / "eid" / "ca.pem").read_bytes() == ca_before
