"""Login with the eID or another X.509 client certificate (assurance level 500).

nginx terminates TLS, asks the browser for the client certificate and passes it URL-encoded
(``$ssl_client_escaped_cert``) in a header (``TOEGANG_EID_HEADER``). The application reads that
header only from the proxy addresses in ``TOEGANG_EID_TRUSTED_PROXIES`` and verifies the certificate
again itself, so that a proxy that is misconfigured, or bypassed, does not make a header a login:
issued (signature) by a CA of ``TOEGANG_EID_CA_BUNDLE``, valid now, not on the CRL of
``TOEGANG_EID_CRL``, meant for authentication. The subject's serialNumber (OID 2.5.4.5) carries the
national number on the Belgian eID; it is mapped to the person by ``User.ssin``.

The functions that parse and verify are pure (no request, no database, the time is an argument) and
tested directly; ``eid_authenticate`` puts them together for the view, and the two ``eid_login_audit_*``
functions write the audit trail. See docs/eid.md.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from toegang.accounts.models import User
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.audit.services import audit_record
from toegang.identifiers import ssin_clean

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

# A Belgian eID authentication certificate is about 1.6 kB; URL-encoded PEM about 3 kB.
HEADER_MAX_LENGTH = 16_384

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EidFailure(StrEnum):
    NOT_CONFIGURED = "not_configured"
    NO_CERTIFICATE = "no_certificate"
    UNTRUSTED_PROXY = "untrusted_proxy"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    WRONG_USAGE = "wrong_usage"
    NO_NATIONAL_NUMBER = "no_national_number"
    REFUSED_BY_PROXY = "refused_by_proxy"
    UNKNOWN_PERSON = "unknown_person"
    INACTIVE_PERSON = "inactive_person"


# Not accepted: the same words whether the issuer is unknown or the national number has no (active)
# account here, so that no answer tells whether an account exists.
_NOT_ACCEPTED = _("This certificate cannot be used to log in here. Use your own eID, or log in with another method.")
_NO_CERTIFICATE = _(
    "No eID certificate was received. Insert your eID in the card reader, choose the authentication "
    "certificate when your browser asks for one, and try again."
)
MESSAGES: dict[EidFailure, StrPromise] = {
    EidFailure.NOT_CONFIGURED: _("Login with the eID is not configured on this server. Use another method."),
    # A header from an address that is not the proxy is ignored: for the user it is as if none came.
    EidFailure.NO_CERTIFICATE: _NO_CERTIFICATE,
    EidFailure.UNTRUSTED_PROXY: _NO_CERTIFICATE,
    EidFailure.MALFORMED: _("The certificate that was received could not be read. Try again."),
    EidFailure.EXPIRED: _("Your certificate has expired. Renew your eID at your municipality."),
    EidFailure.NOT_YET_VALID: _("Your certificate is not valid yet. Check your computer's date, or try again later."),
    EidFailure.UNTRUSTED_ISSUER: _NOT_ACCEPTED,
    EidFailure.REVOKED: _("Your certificate has been revoked. Contact your municipality to renew your eID."),
    EidFailure.REVOCATION_UNKNOWN: _(
        "Whether your certificate was revoked could not be checked just now. Try again later, or use another method."
    ),
    EidFailure.WRONG_USAGE: _(
        "This certificate is not meant for logging in. Choose the authentication certificate of your eID."
    ),
    EidFailure.NO_NATIONAL_NUMBER: _("Your certificate carries no national number, so it cannot be used to log in."),
    EidFailure.REFUSED_BY_PROXY: _NOT_ACCEPTED,
    EidFailure.UNKNOWN_PERSON: _NOT_ACCEPTED,
    EidFailure.INACTIVE_PERSON: _NOT_ACCEPTED,
}


@dataclass(frozen=True)
class CertificateInfo:
    """What the audit trail and the session record keep of a certificate."""

    serial: str
    issuer: str
    subject: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateInfo:
        return cls(
            serial=format(cert.serial_number, "x"),
            issuer=cert.issuer.rfc4514_string(),
            subject=cert.subject.rfc4514_string(),
        )


class EidError(Exception):
    def __init__(self, reason: EidFailure, certificate: CertificateInfo | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.certificate = certificate

    @property
    def message(self) -> StrPromise:
        return MESSAGES[self.reason]


@dataclass(frozen=True)
class EidConfig:
    header: str
    trusted_proxies: tuple[IpNetwork, ...]
    ca_bundle: tuple[Path, ...]
    crl: Path | None

    @property
    def configured(self) -> bool:
        return bool(self.ca_bundle)

    @property
    def meta_key(self) -> str:
        # How WSGI servers name a request header: X-SSL-Client-Cert -> HTTP_X_SSL_CLIENT_CERT.
        return "HTTP_" + self.header.upper().replace("-", "_")

    @property
    def refused_meta_key(self) -> str:
        # <header>-Refused: a certificate nginx itself refused (its error_page 495), sent only so that
        # the person learns why (expired, revoked); it never logs anyone in.
        return self.meta_key + "_REFUSED"


def proxies_parse(values: Sequence[str]) -> tuple[IpNetwork, ...]:
    """Addresses or networks (``10.0.0.0/8``); raises ValueError on anything else."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def eid_config() -> EidConfig:
    return EidConfig(
        header=settings.EID_HEADER,
        trusted_proxies=proxies_parse(settings.EID_TRUSTED_PROXIES),
        ca_bundle=tuple(Path(p) for p in settings.EID_CA_BUNDLE),
        crl=Path(settings.EID_CRL) if settings.EID_CRL else None,
    )


def is_trusted_proxy(remote_addr: str | None, proxies: Sequence[IpNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in proxies)


_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)


def certificate_from_header(value: str) -> x509.Certificate:
    """The certificate of nginx's ``$ssl_client_escaped_cert`` (URL-encoded PEM).

    The PEM body is decoded by hand rather than by the PEM loader so that a proxy that folds the
    line breaks into spaces or tabs (Apache, older nginx ``$ssl_client_cert``) works too.
    """
    if len(value) > HEADER_MAX_LENGTH:
        raise EidError(EidFailure.MALFORMED)
    match = _PEM_CERTIFICATE.search(unquote(value))
    if match is None:
        raise EidError(EidFailure.MALFORMED)
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise EidError(EidFailure.MALFORMED) from exc


def load_ca_bundle(paths: Sequence[Path]) -> list[x509.Certificate]:
    cas: list[x509.Certificate] = []
    for path in paths:
        cas.extend(_load_pem_certificates(str(path), *_stamp(path)))
    return cas


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    return list(_load_crls(str(path), *_stamp(path)))


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


# Cached by modification time and size: a replaced CA bundle or a refreshed CRL is read again.
@lru_cache(maxsize=16)
def _load_pem_certificates(path: str, mtime_ns: int, size: int) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))


_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----\s*", re.DOTALL)


@lru_cache(maxsize=16)
def _load_crls(path: str, mtime_ns: int, size: int) -> tuple[x509.CertificateRevocationList, ...]:
    data = Path(path).read_bytes()
    if b"-----BEGIN X509 CRL-----" in data:
        return tuple(x509.load_pem_x509_crl(block.strip()) for block in _PEM_CRL.findall(data))
    return (x509.load_der_x509_crl(data),)


def certificate_verify(
    cert: x509.Certificate,
    *,
    cas: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] | None,
    now: dt.datetime,
) -> x509.Certificate:
    """Check ``cert`` and return the CA that issued it, or raise EidError.

    nginx already verified the whole chain; here every CA of the bundle is a trust anchor, so the
    bundle holds the CAs that issue the certificates themselves (for the eID: the Citizen CAs).
    ``crls=None`` means no CRL is configured; an empty list means one is, and covers nothing.
    """
    info = CertificateInfo.of(cert)
    issuer = _issuer_of(cert, cas, now)
    if issuer is None:
        raise EidError(EidFailure.UNTRUSTED_ISSUER, info)
    if now < cert.not_valid_before_utc:
        raise EidError(EidFailure.NOT_YET_VALID, info)
    if now > cert.not_valid_after_utc:
        raise EidError(EidFailure.EXPIRED, info)
    if not _meant_for_authentication(cert):
        raise EidError(EidFailure.WRONG_USAGE, info)
    if crls is not None:
        _check_revocation(cert, issuer, crls, now, info)
    return issuer


def _issuer_of(cert: x509.Certificate, cas: Sequence[x509.Certificate], now: dt.datetime) -> x509.Certificate | None:
    for ca in cas:
        try:
            # Compares the issuer name with the CA's subject and checks the signature with its key.
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if _is_ca(ca) and ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            return ca
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _meant_for_authentication(cert: x509.Certificate) -> bool:
    # The eID holds two certificates: authentication (digitalSignature) and signature
    # (nonRepudiation only). Only the first is a login.
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        ekus = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        return ExtendedKeyUsageOID.CLIENT_AUTH in ekus
    except x509.ExtensionNotFound:
        return True


def _check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
    info: CertificateInfo,
) -> None:
    # Fail closed, as nginx's ssl_crl does: without a current CRL signed by the certificate's own
    # issuer, the revocation status is unknown and the login refused.
    signed = [
        crl
        for crl in crls
        if crl.issuer == cert.issuer and crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    ]
    # A revocation is final: an outdated CRL still proves it.
    if any(crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None for crl in signed):
        raise EidError(EidFailure.REVOKED, info)
    if not any(
        crl.last_update_utc <= now and (crl.next_update_utc is None or now <= crl.next_update_utc) for crl in signed
    ):
        raise EidError(EidFailure.REVOCATION_UNKNOWN, info)


def certificate_national_number(cert: x509.Certificate) -> str:
    """The national number (INSZ) in the subject's serialNumber attribute (OID 2.5.4.5)."""
    attributes = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if len(attributes) != 1:
        raise EidError(EidFailure.NO_NATIONAL_NUMBER, CertificateInfo.of(cert))
    try:
        return ssin_clean(str(attributes[0].value))
    except ValidationError as exc:
        raise EidError(EidFailure.NO_NATIONAL_NUMBER, CertificateInfo.of(cert)) from exc


def user_for_national_number(ssin: str) -> User | None:
    return User.objects.filter(ssin=ssin).first()


@dataclass(frozen=True)
class EidIdentity:
    user: User
    certificate: CertificateInfo


def eid_authenticate(*, meta: Mapping[str, Any], config: EidConfig, now: dt.datetime) -> EidIdentity:
    """The person a request's client certificate logs in, or EidError saying why not."""
    if not config.configured:
        raise EidError(EidFailure.NOT_CONFIGURED)
    value = meta.get(config.meta_key) or ""
    refused = meta.get(config.refused_meta_key) or ""
    if (value or refused) and not is_trusted_proxy(meta.get("REMOTE_ADDR"), config.trusted_proxies):
        raise EidError(EidFailure.UNTRUSTED_PROXY)
    # nginx sends an empty value when the browser presented no certificate.
    if not (value or refused):
        raise EidError(EidFailure.NO_CERTIFICATE)
    cert = certificate_from_header(str(value or refused))
    try:
        cas = load_ca_bundle(config.ca_bundle)
    except (OSError, ValueError) as exc:
        # accounts/checks.py refuses an unreadable bundle at start; a file broken since then lands here.
        raise EidError(EidFailure.NOT_CONFIGURED) from exc
    try:
        crls = load_crls(config.crl) if config.crl else None
    except (OSError, ValueError) as exc:
        raise EidError(EidFailure.REVOCATION_UNKNOWN, CertificateInfo.of(cert)) from exc
    certificate_verify(cert, cas=cas, crls=crls, now=now)
    info = CertificateInfo.of(cert)
    if refused:
        # nginx refused it (its CAs or CRL differ from ours): never a login, whatever we think of it.
        raise EidError(EidFailure.REFUSED_BY_PROXY, info)
    user = user_for_national_number(certificate_national_number(cert))
    if user is None:
        raise EidError(EidFailure.UNKNOWN_PERSON, info)
    if not user.is_active:
        raise EidError(EidFailure.INACTIVE_PERSON, info)
    return EidIdentity(user=user, certificate=info)


def eid_login_audit_success(*, identity: EidIdentity) -> AuditEvent:
    cert = identity.certificate
    with transaction.atomic():
        return audit_record(
            actor=identity.user,
            action=Action.LOGIN_EID_SUCCESS,
            obj=identity.user,
            after={"level": 500, "certificate_serial": cert.serial, "issuer": cert.issuer},
        )


def eid_login_audit_failure(*, error: EidError) -> AuditEvent:
    # No person is named: most failures come before a person is known, and naming one for the
    # others would make the trail say who holds an account.
    after: dict[str, Any] = {}
    if error.certificate is not None:
        after = {
            "certificate_serial": error.certificate.serial,
            "issuer": error.certificate.issuer,
            "subject": error.certificate.subject,
        }
    with transaction.atomic():
        return audit_record(
            actor=None,
            action=Action.LOGIN_EID_REFUSED,
            object_type="login",
            object_repr="eID",
            after=after or None,
            reason=error.reason.value,
        )
