"""State changes of enterprises, activated qualities and subdepartments (see delegation.services)."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from toegang import identifiers
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.lengths import length_errors
from toegang.locks import lock_enterprise, lock_subdepartment
from toegang.organisations.models import (
    Certificate,
    Enterprise,
    EnterpriseQuality,
    IdentificationScheme,
    Quality,
    Subdepartment,
)

_CLEANERS = {
    IdentificationScheme.NIHII: identifiers.nihii_clean,
    IdentificationScheme.DIGITS: identifiers.digits_clean,
    IdentificationScheme.FREE: identifiers.free_clean,
}


def enterprise_register(*, actor: User, cbe_number: str, name: str) -> Enterprise:
    authz.require(authz.may_register_enterprise(actor))
    cbe = identifiers.cbe_clean(cbe_number)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Enter the name of the enterprise.")})
    too_long = length_errors((("name", name, Enterprise, "name", gettext_lazy("Name")),))
    if too_long:
        raise ValidationError(too_long)
    with transaction.atomic():
        if Enterprise.objects.filter(cbe_number=cbe).exists():
            raise ValidationError({"cbe_number": _("An enterprise with this number is already registered.")})
        try:
            with transaction.atomic():
                enterprise = Enterprise.objects.create(cbe_number=cbe, name=name)
        except IntegrityError as exc:
            raise ValidationError({"cbe_number": _("An enterprise with this number is already registered.")}) from exc
        audit_record(
            actor=actor,
            action=Action.ENTERPRISE_REGISTER,
            params={"cbe_number": cbe},
            obj=enterprise,
            enterprise=enterprise,
            after={"cbe_number": cbe, "name": name},
        )
    return enterprise


def quality_activate(*, actor: User, enterprise: Enterprise, quality: Quality) -> EnterpriseQuality:
    authz.require(authz.may(actor, authz.Action.QUALITY_ACTIVATE, enterprise))
    if not quality.is_active:
        raise ValidationError({"quality": _("This quality cannot be activated.")})
    with transaction.atomic():
        lock_enterprise(enterprise.pk)
        # An activation whose planned end has passed is over; closing it lets the quality be activated again.
        EnterpriseQuality.objects.filter(enterprise=enterprise, quality=quality).close_expired()
        if EnterpriseQuality.objects.filter(enterprise=enterprise, quality=quality).current().exists():
            raise ValidationError({"quality": _("This quality is already activated for this enterprise.")})
        try:
            with transaction.atomic():
                eq = EnterpriseQuality.objects.create(enterprise=enterprise, quality=quality, granted_by=actor)
        except IntegrityError as exc:
            raise ValidationError({"quality": _("This quality is already activated for this enterprise.")}) from exc
        audit_record(
            actor=actor,
            action=Action.QUALITY_ACTIVATE,
            obj=eq,
            enterprise=enterprise,
            enterprise_quality=eq,
            after={"quality": quality.code},
        )
    return eq


# The longest maximum a quality may set: ten years (a typo of 36500 is not a policy).
MAX_ACCESS_DAYS_LIMIT = 3660


def enterprise_quality_max_access_set(
    *, actor: User, enterprise_quality: EnterpriseQuality, days: int | None
) -> EnterpriseQuality:
    """Set (``days``) or remove (None) the ceiling of the quality's users' access, audited before/after.

    Its access manager (TB) and up, and operators (``authz.Action.QUALITY_LIMITS``). It applies to
    what is given or changed from now on (the add-user form proposes it, every service refuses a
    later last day); accesses given before keep their last day.
    """
    authz.require(authz.may(actor, authz.Action.QUALITY_LIMITS, enterprise_quality))
    if days is not None and not 1 <= days <= MAX_ACCESS_DAYS_LIMIT:
        raise ValidationError(
            {"max_access_days": _("Enter a number of days from 1 to %(limit)s.") % {"limit": MAX_ACCESS_DAYS_LIMIT}}
        )
    with transaction.atomic():
        lock_enterprise(enterprise_quality.enterprise_id)
        eq = EnterpriseQuality.objects.select_for_update(of=("self",)).get(pk=enterprise_quality.pk)
        before = eq.max_access_days
        if before == days:
            return eq
        eq.max_access_days = days
        eq.save(update_fields=["max_access_days"])
        audit_record(
            actor=actor,
            action=Action.QUALITY_MAX_ACCESS,
            obj=eq,
            enterprise=eq.enterprise,
            enterprise_quality=eq,
            params={"quality_id": eq.quality_id},
            before={"max_access_days": before},
            after={"max_access_days": days},
        )
    enterprise_quality.max_access_days = days
    return eq


def identification_code_clean(quality: Quality, code: str) -> str:
    return _CLEANERS[IdentificationScheme(quality.identification_scheme)](code)


def subdepartment_create(
    *,
    actor: User,
    enterprise_quality: EnterpriseQuality,
    name: str,
    identification_code: str,
    applications: Iterable[SecuredApplication] = (),
) -> Subdepartment:
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CREATE, enterprise_quality))
    quality = enterprise_quality.quality
    errors: dict[str, Any] = {}
    name = name.strip()
    if not name:
        errors["name"] = _("Enter the name of the subdepartment.")
    errors.update(length_errors((("name", name, Subdepartment, "name", gettext_lazy("Name")),)))
    try:
        code = identification_code_clean(quality, identification_code)
    except ValidationError as exc:
        errors["identification_code"] = exc.messages
    if errors:
        raise ValidationError(errors)
    duplicate = _("A subdepartment with this identification code already exists for this quality.")
    with transaction.atomic():
        lock_enterprise(enterprise_quality.enterprise_id)
        same_code = Subdepartment.objects.filter(quality=quality, identification_code=code)
        # A subdepartment whose planned end has passed no longer holds its identification code.
        same_code.close_expired()
        if same_code.current().exists():
            raise ValidationError({"identification_code": duplicate})
        try:
            with transaction.atomic():
                sd = Subdepartment.objects.create(
                    enterprise_quality=enterprise_quality,
                    enterprise_id=enterprise_quality.enterprise_id,
                    quality=quality,
                    name=name,
                    identification_code=code,
                    granted_by=actor,
                )
        except IntegrityError as exc:
            raise ValidationError({"identification_code": duplicate}) from exc
        audit_record(
            actor=actor,
            action=Action.SUBDEPARTMENT_CREATE,
            params={"identification_code": code},
            obj=sd,
            enterprise=sd.enterprise,
            enterprise_quality=enterprise_quality,
            subdepartment=sd,
            after={"name": name, "identification_code": code},
        )
        subdepartment_applications_set(actor=actor, subdepartment=sd, applications=applications)
    return sd


# --- Certificates with which a subdepartment's systems call the API ------------------------------

# A certificate is one to a few KiB; anything this large is not one, and is refused before parsing.
CERTIFICATE_MAX_BYTES = 64 * 1024
_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _looks_like_der_private_key(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:  # an encrypted key: cryptography asks for its password
        return True
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        return True
    try:
        key, _cert, _more = pkcs12.load_key_and_certificates(data, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return key is not None


def certificate_parse(data: bytes) -> x509.Certificate:
    """One X.509 certificate from PEM or DER bytes, or a ValidationError saying what is wrong.

    A file that holds a private key is refused outright: the key belongs on the organisation's own
    system, and the portal must not even appear to accept it.
    """
    if len(data) > CERTIFICATE_MAX_BYTES:
        raise _refuse(_("The file is larger than 64 KiB; a certificate is a few KiB at most."), "too_large")
    if not data.strip():
        raise _refuse(_("Choose a certificate file or paste a certificate."), "empty")
    if b"PRIVATE KEY" in data.upper():
        raise _refuse(
            _("The file contains a private key. Upload only the certificate; keep the private key on your system."),
            "private_key",
        )
    labels = _PEM_LABEL.findall(data)
    if labels:
        certificates = [label for label in labels if label == b"CERTIFICATE"]
        if len(certificates) > 1:
            raise _refuse(
                _("The file contains more than one certificate. Upload only your own certificate, not its chain."),
                "several",
            )
        if not certificates:
            raise _refuse(_("The file does not contain a certificate (PEM block CERTIFICATE)."), "not_certificate")
        try:
            return x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise _refuse(_("The certificate cannot be read: it is not a valid PEM or DER file."), "malformed") from exc
    if _looks_like_der_private_key(data):
        raise _refuse(
            _("The file contains a private key. Upload only the certificate; keep the private key on your system."),
            "private_key",
        )
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise _refuse(_("The certificate cannot be read: it is not a valid PEM or DER file."), "malformed") from exc


# --- Proof of possession: the manager's upload carries a signature made with the certificate's key --

# How long the text to sign stays valid: time to take it to the system that holds the key and back.
CERTIFICATE_PROOF_MAX_AGE = 24 * 3600
CERTIFICATE_SIGNATURE_MAX_CHARS = 4096  # base64 of an RSA-16384 signature is 2,732 characters
_PROOF_SALT = "toegang.organisations.certificate-proof"
_PROOF_PREFIX = "toegang-certificate-proof"


def certificate_challenge(subdepartment: Subdepartment) -> str:
    """The text to sign with the certificate's private key before it is registered for ``subdepartment``.

    Issued by toegang (signed with SECRET_KEY, so it cannot be made up), naming the subdepartment
    (a signature for one is no proof for another) and valid for ``CERTIFICATE_PROOF_MAX_AGE``;
    shell-safe in single quotes. Nothing is stored: the text carries what it needs.
    """
    text = f"{_PROOF_PREFIX}.{subdepartment.pk}.{secrets.token_urlsafe(12)}"
    return signing.TimestampSigner(salt=_PROOF_SALT).sign(text)


def certificate_challenge_valid(subdepartment: Subdepartment, challenge: str) -> bool:
    """Whether ``challenge`` is a text toegang issued for ``subdepartment`` that has not expired."""
    if not challenge or len(challenge) > 200:
        return False
    try:
        text = signing.TimestampSigner(salt=_PROOF_SALT).unsign(challenge, max_age=CERTIFICATE_PROOF_MAX_AGE)
    except signing.BadSignature:  # also SignatureExpired
        return False
    prefix, _sep, rest = text.partition(".")
    return prefix == _PROOF_PREFIX and rest.split(".", 1)[0] == str(subdepartment.pk)


def _signature_decode(signature: str) -> bytes | None:
    compact = "".join(signature.split())
    if not compact or len(compact) > CERTIFICATE_SIGNATURE_MAX_CHARS:
        return None
    compact = compact.replace("-", "+").replace("_", "/")  # base64url as well
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _signed_by(key: Any, signature: bytes, message: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
                key.verify(signature, message, pss, hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _certificate_proof_check(
    cert: x509.Certificate, subdepartment: Subdepartment, challenge: str, signature: str
) -> None:
    """Refuse unless ``signature`` is the certificate's key's signature over ``challenge``, a text
    toegang issued for this subdepartment (docs/certificates.md): only the organisation that holds
    the private key can register its certificate, anywhere. The text may have been signed with or
    without a final newline (``printf`` or ``echo``); RSA signatures are PKCS#1 v1.5 or PSS with
    SHA-256 (``openssl dgst -sha256 -sign``), EC ones ECDSA with SHA-256, Ed25519/Ed448 pure."""
    key = cert.public_key()
    if not isinstance(
        key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    ):
        raise _refuse(
            _("Certificates with this type of key are not supported: use an RSA, EC or Ed25519 key."),
            "key_unsupported",
        )
    if not signature.strip():
        raise _refuse(
            _("Sign the text shown with the certificate's private key and paste the signature."), "proof_missing"
        )
    if not certificate_challenge_valid(subdepartment, challenge):
        raise _refuse(
            _("The text to sign has expired or belongs to another page: sign the new text shown."), "proof_expired"
        )
    raw = _signature_decode(signature)
    message = challenge.encode("ascii")
    if raw is None or not any(_signed_by(key, raw, m) for m in (message, message + b"\n", message + b"\r\n")):
        raise _refuse(
            _(
                "The signature does not match this certificate: sign the text shown with the private key "
                "of this certificate, and paste the signature in base64."
            ),
            "proof_invalid",
        )


def _certificate_snapshot(c: Certificate) -> dict[str, Any]:
    return {
        "subject": c.subject,
        "issuer": c.issuer,
        "serial_number": c.serial_number,
        "not_valid_before": c.not_valid_before.isoformat(),
        "not_valid_after": c.not_valid_after.isoformat(),
        "fingerprint_sha256": c.fingerprint_sha256,
        "revoked": not c.is_active(),
        "revoke_reason": c.end_reason,
    }


def _certificate_audit(actor: User, action: Action, c: Certificate, *, before: Any, reason: str = "") -> None:
    sd = c.subdepartment
    audit_record(
        actor=actor,
        action=action,
        obj=c,
        params={"certificate_subject": c.subject[:300], "fingerprint_sha256": c.fingerprint_sha256},
        enterprise=sd.enterprise,
        enterprise_quality=sd.enterprise_quality,
        subdepartment=sd,
        before=before,
        after=_certificate_snapshot(c),
        reason=reason,
    )


def _certificate_store(
    *,
    actor: User,
    subdepartment: Subdepartment,
    data: bytes,
    challenge: str,
    signature: str,
    replaces: Certificate | None,
) -> Certificate:
    cert = certificate_parse(data)
    now = timezone.now()
    if cert.not_valid_after_utc <= now:
        raise _refuse(
            _("The certificate expired on %(date)s.") % {"date": formats.date_format(cert.not_valid_after_utc)},
            "expired",
        )
    if cert.not_valid_before_utc > now:
        raise _refuse(
            _("The certificate is not valid yet: it becomes valid on %(date)s.")
            % {"date": formats.date_format(cert.not_valid_before_utc)},
            "not_yet_valid",
        )
    serial = format(cert.serial_number, "x")
    if len(serial) > 64:  # RFC 5280 allows 20 octets (40 hex digits)
        raise _refuse(_("The certificate cannot be read: it is not a valid PEM or DER file."), "malformed")
    # Before anything about other registrations is looked at: without the key, nothing is learnt.
    _certificate_proof_check(cert, subdepartment, challenge, signature)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    # Only this subdepartment's certificates count, which its managers see anyway: whether another
    # organisation registered it too is neither an obstacle nor something the answer tells.
    existing = Certificate.objects.filter(subdepartment=subdepartment, fingerprint_sha256=fingerprint).first()
    if existing is not None:
        if not existing.is_active():
            raise _refuse(
                _(
                    "This certificate was revoked for this subdepartment; a revoked certificate cannot be "
                    "registered here again."
                ),
                "revoked",
            )
        raise _refuse(_("This certificate is already registered for this subdepartment."), "duplicate")
    try:
        with transaction.atomic():
            c = Certificate.objects.create(
                subdepartment=subdepartment,
                pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                subject=cert.subject.rfc4514_string()[:1000],
                issuer=cert.issuer.rfc4514_string()[:1000],
                serial_number=serial,
                not_valid_before=cert.not_valid_before_utc,
                not_valid_after=cert.not_valid_after_utc,
                fingerprint_sha256=fingerprint,
                granted_by=actor,
                replaces=replaces,
            )
    except IntegrityError as exc:  # the same file posted twice at once
        raise _refuse(_("This certificate is already registered for this subdepartment."), "duplicate") from exc
    _certificate_audit(actor, Action.CERTIFICATE_UPLOAD, c, before=None)
    return c


def _certificate_end(c: Certificate, *, actor: User, reason: str) -> None:
    before = _certificate_snapshot(c)
    c.end(actor=actor, reason=reason)
    _certificate_audit(actor, Action.CERTIFICATE_REVOKE, c, before=before, reason=reason)


def certificate_upload(
    *, actor: User, subdepartment: Subdepartment, data: bytes, challenge: str = "", signature: str = ""
) -> Certificate:
    """Register a certificate (PEM or DER) for the subdepartment; nothing is stored if it is refused.

    ``signature``: the certificate's private key's signature over ``challenge``, a text from
    ``certificate_challenge(subdepartment)`` (proof of possession)."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    with transaction.atomic():
        lock_subdepartment(subdepartment.pk)
        return _certificate_store(
            actor=actor,
            subdepartment=subdepartment,
            data=data,
            challenge=challenge,
            signature=signature,
            replaces=None,
        )


def certificate_revoke(*, actor: User, certificate: Certificate, reason: str = "") -> Certificate:
    """Revoke: the certificate stays, with the time, the person and the reason; it is never deleted."""
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, certificate.subdepartment))
    with transaction.atomic():
        lock_subdepartment(certificate.subdepartment_id)
        c = Certificate.objects.select_for_update(of=("self",)).select_related("subdepartment").get(pk=certificate.pk)
        if not c.is_active():
            raise _refuse(_("This certificate has already been revoked."), "already_revoked")
        _certificate_end(c, actor=actor, reason=reason or "revoked")
    return c


def certificate_replace(
    *,
    actor: User,
    certificate: Certificate,
    data: bytes,
    reason: str = "",
    challenge: str = "",
    signature: str = "",
) -> Certificate:
    """Upload the successor and revoke ``certificate`` in one transaction: both happen, or neither.
    The successor needs its proof of possession as an upload does."""
    subdepartment = certificate.subdepartment
    authz.require(authz.may(actor, authz.Action.SUBDEPARTMENT_CERTIFICATES, subdepartment))
    with transaction.atomic():
        lock_subdepartment(subdepartment.pk)
        old = Certificate.objects.select_for_update(of=("self",)).get(pk=certificate.pk)
        if not old.is_active():
            raise _refuse(_("This certificate has already been revoked."), "already_revoked")
        new = _certificate_store(
            actor=actor,
            subdepartment=subdepartment,
            data=data,
            challenge=challenge,
            signature=signature,
            replaces=old,
        )
        old.subdepartment = subdepartment
        _certificate_end(old, actor=actor, reason=reason or "replaced")
    return new
