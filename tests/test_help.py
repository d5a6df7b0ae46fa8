"""The header's Help link opens the user guide (docs/guide/<lang>/<role>.md) of the page's role."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.conftest import World, login
from toegang.portal.views.help import GUIDE_DIR, GUIDE_LANGUAGES, ROLES, render_guide

HEADINGS = {
    "nl": "Handleiding voor de subafdelingsbeheerder",
    "fr": "Guide du gestionnaire de la sous-section",
    "de": "Anleitung für den Verwalter der Unterabteilung",
}


def url(name: str, *args: object, lang: str = "nl") -> str:
    with translation.override(lang):
        return reverse(name, args=args)


def help_href(html: str) -> str:
    """The href of the header's Help link (the one in the tools navigation)."""
    tools = html.split('class="tools"', 1)[1].split("</nav>", 1)[0]
    hrefs = re.findall(r"<a href=\"([^\"]*/help/[^\"]*)\">", tools)
    assert len(hrefs) == 1, tools
    return unescape(str(hrefs[0]))


def test_every_role_has_a_guide_in_every_language() -> None:
    for lang in GUIDE_LANGUAGES:
        for role in ROLES:
            text = (GUIDE_DIR / lang / f"{role}.md").read_text(encoding="utf-8")
            assert text.startswith("# "), (lang, role)
            for folder, name in re.findall(r"\]\(\.\./img/([^)/]+)/([^)/]+)\)", text):
                # Each guide shows the screens of its own language (tests/e2e/test_guide_screenshots.py).
                assert folder == lang, (lang, role, name)
                assert (GUIDE_DIR / "img" / lang / name).is_file(), (lang, role, name)
            assert "](../img/" not in re.sub(r"\]\(\.\./img/[^)/]+/[^)/]+\)", "", text), (lang, role)


def test_help_link_on_the_subdepartment_home_opens_the_sb_guide(client: Client, world: World) -> None:
    z = world.zon
    login(client, z.people["sb"])
    response = client.get(url("portal:subdepartment", z.sd.pk))
    assert response.status_code == 200
    href = help_href(response.content.decode())
    assert href == url("portal:help") + "?role=subdepartment-manager"
    guide = client.get(href)
    assert guide.status_code == 200
    assert HEADINGS["nl"] in guide.content.decode()


def test_help_link_on_the_users_list_and_home(client: Client, world: World) -> None:
    z = world.zon
    login(client, z.people["sb"])
    users = client.get(url("portal:users", z.sd.pk)).content.decode()
    assert help_href(users).endswith("?role=subdepartment-manager")
    home = client.get(url("portal:home")).content.decode()
    assert help_href(home).endswith("?role=user")


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_the_sb_guide_in_each_language_with_a_served_image(client: Client, db: None, lang: str) -> None:
    response = client.get(url("portal:help", lang=lang), {"role": "subdepartment-manager"})
    assert response.status_code == 200
    html = response.content.decode()
    assert HEADINGS[lang] in html
    assert f'<article class="guide" lang="{lang}">' in html
    # the Help link of the guide itself stays on this role
    assert help_href(html).endswith("?role=subdepartment-manager")
    images = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert images, html
    for src in images:
        assert src.startswith(url("portal:help_image", lang, "x.png", lang=lang).rsplit("/", 1)[0] + "/")
        image = client.get(src)
        assert image.status_code == 200
        assert image["Content-Type"] == "image/png"
        assert b"".join(image.streaming_content).startswith(b"\x89PNG")  # type: ignore[attr-defined]
    # links to the other roles' guides
    for role in ROLES:
        assert f'href="{url("portal:help", lang=lang)}?role={role}"' in html


def test_an_unknown_role_falls_back_to_the_user_guide(client: Client, db: None) -> None:
    response = client.get(url("portal:help"), {"role": "../../settings"})
    assert response.status_code == 200
    assert "Handleiding voor de gebruiker" in response.content.decode()
    assert "Handleiding voor de gebruiker" in client.get(url("portal:help")).content.decode()


def test_english_pages_get_the_dutch_guide(client: Client, db: None) -> None:
    response = client.get(url("portal:help", lang="en"), {"role": "access-manager"})
    assert response.status_code == 200
    assert '<article class="guide" lang="nl">' in response.content.decode()


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2F..%2Ftoegang%2Fsettings.py",
        "..%2Fnl%2Fuser.md",
        "%2E%2E%2Fnl%2Fuser.md",
        "missing.png",
        ".hidden.png",
    ],
)
def test_the_image_route_refuses_anything_but_a_file_of_the_folder(client: Client, db: None, name: str) -> None:
    base = url("portal:help_image", "nl", "x.png").rsplit("/", 1)[0]
    assert client.get(f"{base}/{name}").status_code == 404
    assert client.get(f"{base}/../../toegang/settings.py").status_code == 404
    # The language folder is one of the guides' languages, nothing else.
    for folder in ("en", "..", "img", "%2E%2E"):
        assert (
            client.get(
                url("portal:help_image", "nl", "login.png").replace("/nl/login.png", f"/{folder}/login.png")
            ).status_code
            == 404
        )


def test_raw_html_in_a_guide_is_escaped() -> None:
    html = render_guide('<script>alert(1)</script>\n\nText <b onclick="x">bold</b> [a](javascript:alert(1))')
    assert "<script>" not in html
    assert "<b " not in html
    assert "javascript:" not in html


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_each_guide_has_its_own_screenshots(lang: str) -> None:
    """The French and German guides no longer show Dutch screens: a folder of PNGs per language."""
    names = {p.name for p in (GUIDE_DIR / "img" / lang).glob("*.png")}
    assert "step-6-users-list.png" in names
    for name in names:
        assert (GUIDE_DIR / "img" / lang / name).read_bytes().startswith(b"\x89PNG"), (lang, name)
    if lang != "nl":
        dutch = GUIDE_DIR / "img" / "nl" / "step-6-users-list.png"
        assert (GUIDE_DIR / "img" / lang / "step-6-users-list.png").read_bytes() != dutch.read_bytes()
