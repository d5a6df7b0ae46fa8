"""Make a test CA and a client certificate that logs a person in as an eID would (docs/eid.md).

For trying the eID login on a running server without a card reader: the certificate carries the
person's INSZ in the subject's serialNumber, as the Belgian eID does, and is signed by a test CA kept
under var/eid/. Never put that CA in the bundle of a production server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils import timezone, translation

from toegang.accounts.models import User

# Protects only the test certificate's .p12 for importing into a browser; printed on purpose.
PKCS12_PASSWORD = "toegang"  # noqa: S105


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ca_load_or_create(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The test CA of ``directory``, made the first time (ca.pem, ca-key.pem)."""
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CommandError(f"{key_path} is not the EC key this command makes.")
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "toegang test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "toegang test eID CA"),
        ]
    )
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def client_certificate(
    *, user: User, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, days: int
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = f"{user.first_name} {user.last_name}".strip() or user.username
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (Authentication)"),
            *([x509.NameAttribute(NameOID.SURNAME, user.last_name)] if user.last_name else []),
            *([x509.NameAttribute(NameOID.GIVEN_NAME, user.first_name)] if user.first_name else []),
            # Where the Belgian eID carries the national number.
            x509.NameAttribute(NameOID.SERIAL_NUMBER, user.ssin or ""),
        ]
    )
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_crl(directory: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> Path:
    """crl.pem: the serials in revoked.txt, signed by the test CA, valid for 30 days."""
    revoked = directory / "revoked.txt"
    serials = revoked.read_text().split() if revoked.exists() else []
    now = timezone.now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=30))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(now).build()
        )
    path = directory / "crl.pem"
    _write(path, builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


class Command(BaseCommand):
    help = (
        "Make a test CA (var/eid/, once) and a client certificate carrying a person's INSZ, and print "
        "how to log in with it through the eID login as nginx would pass it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the person to log in (their INSZ goes into the certificate)")
        parser.add_argument("--days", type=int, default=365, help="validity of the certificate (default 365)")
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="revoke the person's last test certificate instead (listed in var/eid/crl.pem)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No person with username {options['username']!r}.")
        if not user.ssin:
            raise CommandError(f"{user.username} has no INSZ: an eID certificate cannot name them.")
        directory = Path(settings.VAR_DIR) / "eid"
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_key = ca_load_or_create(directory)
        bundle = directory / "ca-bundle.pem"
        _write(bundle, ca.public_bytes(serialization.Encoding.PEM))
        if options["revoke"]:
            self._revoke(directory, user, ca, ca_key)
            return
        cert, key = client_certificate(user=user, ca=ca, ca_key=ca_key, days=options["days"])
        pem = cert.public_bytes(serialization.Encoding.PEM)
        _write(directory / f"{user.username}.pem", pem)
        _write(directory / f"{user.username}-key.pem", _key_pem(key), private=True)
        p12 = pkcs12.serialize_key_and_certificates(
            user.username.encode(),
            key,
            cert,
            [ca],
            serialization.BestAvailableEncryption(PKCS12_PASSWORD.encode()),
        )
        _write(directory / f"{user.username}.p12", p12, private=True)
        crl = write_crl(directory, ca, ca_key)

        with translation.override("nl"):
            url = settings.BASE_URL + reverse("account_eid_login")
        home = settings.BASE_URL + "/nl/"
        header = settings.EID_HEADER
        # As nginx's $ssl_client_escaped_cert: the PEM, URL-encoded.
        escaped = quote(pem.decode(), safe="")
        out = self.stdout.write
        out(f"Certificate for {user.username} (INSZ {user.ssin}) in {directory}/{user.username}.pem")
        out(f"  key {user.username}-key.pem; for a browser: {user.username}.p12 (password {PKCS12_PASSWORD!r})")
        out(f"CA bundle: {bundle.resolve()}")
        out("")
        out("1. Start the server with the test CA as eID CA bundle:")
        out(f"   TOEGANG_EID_CA_BUNDLE={bundle.resolve()} make run")
        out(f"   (and TOEGANG_EID_CRL={crl.resolve()} to check revocations; --revoke revokes this certificate)")
        out("2. Log in as the proxy would (from 127.0.0.1, one of TOEGANG_EID_TRUSTED_PROXIES):")
        out(f'   curl -sS -i -c cookies -H "{header}: {escaped}" {url}')
        out("3. The session cookie now belongs to the person:")
        out(f"   curl -sS -b cookies {home}")

    def _revoke(self, directory: Path, user: User, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> None:
        cert_path = directory / f"{user.username}.pem"
        if not cert_path.exists():
            raise CommandError(f"No test certificate for {user.username} in {directory}.")
        serial = format(x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number, "x")
        with (directory / "revoked.txt").open("a") as f:
            f.write(serial + "\n")
        crl = write_crl(directory, ca, ca_key)
        self.stdout.write(f"Revoked {cert_path.name} (serial {serial}); CRL: {crl.resolve()}")
        self.stdout.write(f"With TOEGANG_EID_CRL={crl.resolve()} the server refuses it (the file is read again).")
