"""Every link in every e-mail is on TOEGANG_BASE_URL, whatever Host header the request sent (issue 12, F9).

The attack: ``Host: 127.0.0.1:4444`` passes ALLOWED_HOSTS (which ignores the port), so a password
reset asked for with it mailed a link to the attacker's port, with the reset key in it. Here the
request names other hosts and ports, and every URL in each mail (text and HTML) must start with
settings.BASE_URL. And a Host that is not allowed at all is refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.core.checks import run_checks
from django.test import Client

from tests.conftest import World, login
from toegang.identifiers import ssin_make

BASE = "https://toegang.example.test"
FORGED_HOSTS = ["127.0.0.1:4444", "localhost:9999", "testserver:1"]
URL = re.compile(r"""https?://[^\s"'<>]+""")


def _links(message: Any) -> list[str]:
    texts = [str(message.body)] + [str(content) for content, _ in getattr(message, "alternatives", [])]
    return [url.rstrip(".,;:)") for text in texts for url in URL.findall(text)]


@pytest.fixture
def base_url(settings: Any) -> str:
    settings.BASE_URL = BASE
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "toegang.example.test"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return BASE


@pytest.mark.django_db
@pytest.mark.parametrize("host", FORGED_HOSTS)
def test_the_password_reset_link_is_on_the_base_url_whatever_the_host_header(
    world: World, base_url: str, host: str, django_capture_on_commit_callbacks: Any
) -> None:
    person = world.person("user")
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(HTTP_HOST=host).post("/nl/accounts/password/reset/", {"email": person.email})
    assert response.status_code == 302
    (message,) = mail.outbox
    links = _links(message)
    assert any("/accounts/password/reset/key/" in link for link in links), message.body
    assert all(link.startswith(f"{base_url}/") for link in links), links
    assert host not in str(message.body)  # nor as the site's name ("Hello from …")
    assert "toegang.example.test" in str(message.body)


@pytest.mark.django_db
def test_the_reset_link_opens_the_reset_form(
    world: World, base_url: str, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client(HTTP_HOST="127.0.0.1:4444")
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/nl/accounts/password/reset/", {"email": world.person("user").email})
    (link,) = [u for u in _links(mail.outbox[0]) if "/password/reset/key/" in u]
    response = Client().get(link.removeprefix(base_url), follow=True)
    assert response.status_code == 200 and "password1" in response.content.decode()


@pytest.mark.django_db
def test_the_access_mail_links_are_on_the_base_url(
    world: World, base_url: str, django_capture_on_commit_callbacks: Any
) -> None:
    client = login(Client(HTTP_HOST="127.0.0.1:4444"), world.person("sb"))
    form = {
        "action": "save",
        "ssin": ssin_make(1984, 4, 4, 404),
        "last_name": "Nieuw",
        "first_name": "Nora",
        "title": "ms",
        "language": "nl",
        "email": "nora@example.test",
        "applications": [str(world.apps[0].pk)],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/nl/s/{world.zon.sd.pk}/users/new/", form)
    assert response.status_code == 302
    (message,) = mail.outbox
    links = _links(message)
    # The application's own address from the catalogue (an operator's, never a request's); the rest on BASE_URL.
    assert world.apps[0].url in links
    ours = [link for link in links if link != world.apps[0].url]
    assert ours and all(link.startswith(f"{base_url}/") or link == base_url for link in ours), links


@pytest.mark.django_db
def test_an_unknown_host_is_refused(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["toegang.example.test"]
    assert Client(HTTP_HOST="evil.example").get("/nl/accounts/login/").status_code == 400
    assert Client(HTTP_HOST="toegang.example.test").get("/nl/accounts/login/").status_code == 200


def test_production_allowed_hosts_default_to_the_base_urls_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import toegang.settings as module

    monkeypatch.setenv("TOEGANG_BASE_URL", "https://toegang.example.be")
    monkeypatch.delenv("TOEGANG_ALLOWED_HOSTS", raising=False)
    try:
        assert importlib.reload(module).ALLOWED_HOSTS == ["toegang.example.be"]
    finally:
        monkeypatch.undo()
        importlib.reload(module)


@pytest.mark.parametrize(("hosts", "errors"), [(["*"], {"toegang.E002"}), (["other.example"], {"toegang.E003"})])
def test_the_deploy_check_refuses_a_wildcard_and_a_base_url_host_not_allowed(
    settings: Any, hosts: list[str], errors: set[str]
) -> None:
    settings.BASE_URL = BASE
    settings.ALLOWED_HOSTS = hosts
    found = {e.id for e in run_checks(include_deployment_checks=True) if (e.id or "").startswith("toegang.E00")}
    assert found - {"toegang.E001"} == errors
