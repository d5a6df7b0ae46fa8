"""The hasher of OAuth client secrets: one HMAC-SHA256 (PBKDF2 with one iteration), not Argon2.

django-oauth-toolkit stores a client's secret as a Django password hash (``CLIENT_SECRET_HASHER``)
and verifies it with ``check_password`` on every token request: client credentials, code exchange
and refresh. Its default is the first of ``PASSWORD_HASHERS``, Argon2id with 100 MiB and two passes,
which costs about 0.2 s of CPU a request and bounded the token endpoint to a few requests per
second per core (docs/performance.md, bench/token_endpoint.py).

A slow hash protects *guessable* secrets: people's passwords. A client secret is random (the ones
toegang makes are ``secrets.token_urlsafe(32)``, 256 bits; django-oauth-toolkit's are 128 characters
of 62 kinds), so a stolen hash cannot be reversed by guessing whatever one hash costs; a fast,
salted hash is enough (OWASP Password Storage Cheat Sheet; NIST SP 800-63B 5.1.2.2 allows a single
salted hash for randomly chosen look-up secrets of at least 64 bits). This reuses Django's PBKDF2
code, with its own algorithm name so a stored hash names this hasher and ``check_password`` finds it
in ``PASSWORD_HASHERS``. People's passwords stay Argon2id (the first entry); secrets hashed with
Argon2 before this hasher keep verifying, since the stored hash names its own algorithm. An operator
who types a secret of their own (``manage.py oidc_client --secret``) must make it as random: at
least 32 random characters.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ClientSecretHasher(PBKDF2PasswordHasher):
    """``pbkdf2_sha256_client$1$<salt>$<hash>``: one PBKDF2-HMAC-SHA256 iteration, 22-character salt."""

    algorithm = "pbkdf2_sha256_client"
    iterations = 1
