"""The client certificate of a request, for certificate-bound access tokens (RFC 8705 §3).

TLS ends at the reverse proxy, which passes the certificate the client presented in the header the
eID login reads (``TOEGANG_EID_HEADER``), trusted only from ``TOEGANG_EID_TRUSTED_PROXIES``
(toegang/accounts/eid.py, docs/eid.md). Binding a token needs no trust in the certificate's issuer
(the proxy has checked that the client holds its private key; RFC 8705 §3 binds self-signed ones
too): only its SHA-256 thumbprint, ``x5t#S256``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization

from toegang.accounts.eid import EidError, certificate_from_header, eid_config, is_trusted_proxy


def certificate_thumbprint(meta: Mapping[str, Any]) -> str | None:
    """``x5t#S256`` of the certificate the trusted proxy passed with this request (WSGI ``META``);
    None when there is none, it came from another address, or it cannot be read."""
    config = eid_config()
    value = meta.get(config.meta_key) or ""
    if not value or not is_trusted_proxy(meta.get("REMOTE_ADDR"), config.trusted_proxies):
        return None
    try:
        cert = certificate_from_header(str(value))
    except EidError:
        return None
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
