"""Content-Security-Policy and ``Cache-Control: no-store`` (issue 12, F12).

Before: no policy at all (an injected ``<script>`` or ``onclick=`` would run), and the users list,
its export, a person's page, ``/me/`` and the API's answers could be kept by any browser or proxy
cache. The policy is django-csp's (toegang/portal/security.py); the templates hold no inline script
for it to break (checked here by reading them, and in the browser tests by the console).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import World, login
from tests.test_api import RP, Api, access, application_of, ssin_of  # noqa: F401 (access: a fixture)
from toegang.delegation.models import RoleAssignment
from toegang.oidc.services import relying_party_register

ROOT = Path(settings.BASE_DIR)
TEMPLATES = sorted((ROOT / "toegang").glob("**/templates/**/*.html"))
STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy(response: Any) -> dict[str, set[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: set(values) for name, *values in directives}


def _is_no_store(cache_control: str) -> bool:
    return "no-store" in {part.strip() for part in cache_control.split(",")}


# --- the policy ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/nl/accounts/login/", "/nl/", "/nl/me/", "/nl/help/"])
def test_every_page_carries_the_strict_policy(world: World, path: str) -> None:
    client = login(Client(), world.person("sb")) if path != "/nl/accounts/login/" else Client()
    response = client.get(path)
    assert response.status_code == 200
    found = policy(response)
    for name, values in STRICT.items():
        assert found[name] == values, (name, found)
    assert found["img-src"] == {"'self'", "data:"}  # the TOTP QR code is a data: image
    assert not any("unsafe" in v for values in found.values() for v in values)


@pytest.mark.django_db
def test_login_pages_may_send_their_forms_on_to_the_relying_parties_and_the_provider(
    world: World, settings: Any
) -> None:
    """A login ends, through redirects, at a relying party; browsers hold those to form-action too."""
    settings.OIDC_PROVIDER_URL = "https://idp.example.test/oidc"
    relying_party_register(
        actor=None,
        application=world.apps[0],
        client_id="rp-csp",
        client_secret="rp-csp-secret",
        redirect_uris=["https://rp.example.test/callback"],
    )
    login_page = Client().get("/nl/accounts/login/?next=/oauth/authorize/%3Fclient_id%3Drp-csp")
    assert policy(login_page)["form-action"] == {"'self'", "https://idp.example.test", "https://rp.example.test"}
    # Elsewhere the forms stay on toegang.
    home = login(Client(), world.person("sb")).get("/nl/")
    assert policy(home)["form-action"] == {"'self'"}


def test_no_template_has_an_inline_script_or_event_handler() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in TEMPLATES
        for pattern in (inline_script, handler, re.compile(r"javascript:", re.IGNORECASE))
        for match in pattern.finditer(path.read_text())
    ]
    assert TEMPLATES and found == []


# --- no-store --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_personal_pages_and_the_export_are_never_stored(world: World) -> None:
    sb = world.person("sb")
    client = login(Client(), sb)
    sd = world.zon.sd.pk
    membership = RoleAssignment.objects.active().filter(person=world.person("user"), subdepartment_id=sd).first()
    assert membership is not None
    for path in (
        "/nl/",
        "/nl/me/",
        f"/nl/s/{sd}/users/",
        f"/nl/s/{sd}/users/export.csv",
        f"/nl/s/{sd}/users/{membership.pk}/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert _is_no_store(response["Cache-Control"]), (path, response.get("Cache-Control"))


@pytest.mark.django_db
def test_api_answers_are_never_stored(access: World, client: Client) -> None:  # noqa: F811
    user, sd = ssin_of(access.zon.people["user"]), access.zon.sd.pk
    api = Api(client, RP(application_of("eloket")).token(client))
    answer = api.check(user, sd)
    assert answer.status_code == 200 and _is_no_store(answer["Cache-Control"])
    refused = Api(client, "not-a-token").facilities(user)
    assert refused.status_code == 401 and _is_no_store(refused["Cache-Control"])
    # gunicorn serves /api/ through the short middleware list (toegang/wsgi.py): both are in it too.
    for middleware in ("NoStoreMiddleware", "ContentSecurityPolicyMiddleware"):
        assert f"toegang.portal.security.{middleware}" in settings.API_MIDDLEWARE
