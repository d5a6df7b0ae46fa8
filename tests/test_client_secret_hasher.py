"""Client secrets are hashed with toegang.oidc.hashers.ClientSecretHasher, people's passwords with Argon2id.

With the production PASSWORD_HASHERS: a new client's secret is stored as ``pbkdf2_sha256_client``
and verifies at the token endpoint; a secret stored as Argon2 before the change still verifies; a
wrong secret is refused either way; a person's password is still hashed with Argon2id.
"""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password
from django.core.management import call_command
from django.test import Client
from oauth2_provider.models import Application

from toegang import settings as production
from toegang.accounts.models import User
from toegang.applications.models import SecuredApplication
from toegang.oidc.models import RelyingParty
from toegang.seed.demo import catalogue_load

pytestmark = pytest.mark.django_db

SECRET = "s3cret-" + "x" * 57


@pytest.fixture(autouse=True)
def _production_hashers(settings: Any) -> None:
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS


def _client(secret: str) -> Application:
    catalogue_load()
    client = Application.objects.create(
        name="E-loket back end",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    RelyingParty.objects.create(client=client, application=SecuredApplication.objects.get(code="eloket"))
    return client


def _token_status(http: Client, client: Application, secret: str) -> int:
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    response = http.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": "authz"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    return int(response.status_code)


def test_the_setting_names_the_client_secret_hasher_and_people_keep_argon2() -> None:
    assert production.OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"] == "pbkdf2_sha256_client"
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert get_hasher("default").algorithm == "argon2"
    person = User.objects.create_user(username="p", password="a-long-test-password-1")
    assert person.password.startswith("argon2$argon2id$")
    assert person.check_password("a-long-test-password-1")


def test_new_client_secret_is_hashed_with_the_client_secret_hasher(client: Client) -> None:
    rp = _client(SECRET)
    rp.refresh_from_db()
    assert rp.client_secret.startswith("pbkdf2_sha256_client$1$")
    assert identify_hasher(rp.client_secret).algorithm == "pbkdf2_sha256_client"
    assert SECRET not in rp.client_secret
    assert check_password(SECRET, rp.client_secret)
    assert not check_password(SECRET + "y", rp.client_secret)
    # Salted: the same secret hashes differently for another client.
    assert make_password(SECRET, hasher="pbkdf2_sha256_client") != rp.client_secret
    assert _token_status(client, rp, SECRET) == 200
    assert _token_status(client, rp, "wrong-" + SECRET) == 401


def test_client_secret_stored_as_argon2_still_verifies(client: Client) -> None:
    rp = _client(make_password(SECRET, hasher="argon2"))  # hashed before the change: kept as is
    rp.refresh_from_db()
    assert rp.client_secret.startswith("argon2$argon2id$")
    assert _token_status(client, rp, SECRET) == 200
    assert _token_status(client, rp, "wrong-" + SECRET) == 401
    rp.refresh_from_db()
    assert rp.client_secret.startswith("argon2$argon2id$")  # verifying does not rewrite it


def test_oidc_client_warns_of_a_short_given_secret_and_makes_long_random_ones() -> None:
    catalogue_load()
    args = {"application": "eloket", "redirect_uri": ["https://eloket.example/callback"]}
    out, err = StringIO(), StringIO()
    call_command("oidc_client", client_id="short", secret="demo-rp-secret", stdout=out, stderr=err, **args)
    assert "at least 32 random characters" in err.getvalue()
    out, err = StringIO(), StringIO()
    call_command("oidc_client", client_id="random", stdout=out, stderr=err, **args)
    assert err.getvalue() == ""
    secret = out.getvalue().split("client_secret=", 1)[1].strip()
    assert len(secret) >= 43
    stored = Application.objects.get(client_id="random").client_secret
    assert stored.startswith("pbkdf2_sha256_client$") and check_password(secret, stored)
