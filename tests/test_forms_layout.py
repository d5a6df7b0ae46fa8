"""Errors, layout and tone (issue 13): the error summary, hints, allauth's pages, the error pages, the footer.

The error summary follows the GOV.UK / Flemish design systems: at the top of a form with errors, a
link per error to its field; the field carries aria-invalid and is described by its error. allauth's
pages are in the portal's layout and speak formally ("u", "Sie"); 403, 404 and 500 are translated.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import allauth
import polib
import pytest
from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, path
from django.utils import translation

from tests.conftest import PASSWORD, World, login, password_login
from toegang import urls as toegang_urls
from toegang.applications.models import SecuredApplication
from toegang.identifiers import ssin_make
from toegang.mail.models import OutgoingMail
from toegang.portal.forms import ApplicationsField
from toegang.portal.views import errors

LANGS = ("nl", "fr", "de")
# Informal address: Dutch "je/jij/jouw", German "du/dein/dich/dir" (French allauth says "vous").
INFORMAL = {
    "nl": re.compile(r"\b(je|jij|jou|jouw|jezelf)\b", re.IGNORECASE),
    "de": re.compile(r"\b(du|dein|deine|deinen|deinem|deiner|dich|dir)\b", re.IGNORECASE),
}
# What the issue saw on allauth's pages and mails.
OLD_STRINGS = ("Je bent nu ingelogd", "Hallo van", "Volg de link in de verificatie e-mail", "Hello from")


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside each element with an id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag not in ("input", "br", "img", "meta", "link", "hr"):
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.text_by_id[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, ident in self._open:
            if ident:
                self.text_by_id[ident] += data

    def by_id(self, ident: str) -> dict[str, str]:
        return next(a for _t, a in self.tags if a.get("id") == ident)


def _text(html: str) -> str:
    """The page's text as a person reads it: no tags, no scripts' data."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _assert_marked(html: str, fields: list[str]) -> None:
    """The summary links to each field; the field is aria-invalid and described by its error."""
    page = Tags(html)
    summary = next(a for _t, a in page.tags if "data-error-summary" in a)
    assert summary["tabindex"] == "-1"
    block = re.search(r"<div class=\"error-summary\".*?</ul>", html, re.DOTALL)
    assert block, "no error summary"
    links = re.findall(r'<a href="([^"]+)"', block.group(0))
    for name in fields:
        ident = f"id_{name}"
        assert f"#{ident}" in links, (name, links)
        field = page.by_id(ident)
        assert field["aria-invalid"] == "true"
        assert f"{ident}_error" in field["aria-describedby"].split()
        assert page.text_by_id[f"{ident}_error"].strip(), f"{ident}_error is empty"


@pytest.mark.django_db
def test_add_user_form_with_two_errors_has_a_summary_linking_to_both_fields(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    response = client.post(
        f"/nl/s/{world.zon.sd.pk}/users/new/",
        {
            "action": "save",
            "ssin": ssin_make(1988, 8, 8, 808),
            "last_name": "",
            "first_name": "",
            "title": "ms",
            "language": "nl",
            "email": "",
            "local_email": "geen-adres",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Er is een probleem" in html
    errors_of = response.context["form"].errors
    assert {"email", "local_email"} <= set(errors_of)
    _assert_marked(html, sorted(errors_of))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "title"),
    [
        ("nl", "Er is een probleem"),
        ("fr", "Il y a un problème"),
        ("de", "Es gibt ein Problem"),
        ("en", "There is a problem"),
    ],
)
def test_operator_form_errors_are_summarised_in_each_language(
    world: World, client: Client, lang: str, title: str
) -> None:
    login(client, world.operator)
    response = client.post(f"/{lang}/operator/", {"cbe_number": "123", "name": "", "ssin": "1", "email": "x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert title in html
    _assert_marked(html, ["cbe_number", "name", "ssin", "email"])


@pytest.mark.django_db
def test_quality_form_shows_the_riziv_format_before_the_error_and_marks_the_field(world: World, client: Client) -> None:
    login(client, world.person("tb"))
    url = f"/nl/q/{world.zon.eq.pk}/"
    page = Tags(client.get(url).content.decode())
    field = page.by_id("id_sub-identification_code")
    assert field["aria-describedby"] == "id_sub-identification_code_helptext"
    assert "8 of 11 cijfers" in page.text_by_id["id_sub-identification_code_helptext"]
    assert "aria-invalid" not in field
    response = client.post(url, {"action": "subdepartment", "sub-name": "X", "sub-identification_code": "12"})
    _assert_marked(response.content.decode(), ["sub-identification_code"])


@pytest.mark.django_db
def test_allauth_login_errors_are_summarised(world: World, client: Client) -> None:
    response = client.post("/nl/accounts/login/", {"login": world.person("user").username, "password": "wrong"})
    html = response.content.decode()
    page = Tags(html)
    assert any("data-error-summary" in a for _t, a in page.tags)
    assert "Er is een probleem" in html
    assert "De gebruikersnaam en/of het wachtwoord dat u opgaf, is niet juist." in html


@pytest.mark.django_db
def test_allauth_password_change_marks_the_field(world: World, client: Client) -> None:
    login(client, world.person("user"), method="password")
    response = client.post(
        "/nl/accounts/password/change/",
        {"oldpassword": "wrong", "password1": "een-nieuw-wachtwoord-2026", "password2": "een-ander-wachtwoord"},
    )
    html = response.content.decode()
    _assert_marked(html, sorted(response.context["form"].errors))
    assert "Geef uw huidige wachtwoord op." in html or "oldpassword" in response.context["form"].errors


@pytest.mark.django_db
def test_email_and_insz_formats_are_shown_on_the_add_form(world: World, client: Client) -> None:
    login(client, world.person("sb"))
    html = client.get(f"/nl/s/{world.zon.sd.pk}/users/new/", {"ssin": ssin_make(1988, 8, 8, 808)}).content.decode()
    page = Tags(html)
    assert "naam@voorziening.be" in page.text_by_id["id_email_helptext"]
    assert "85.07.30-033.28" in page.text_by_id["id_ssin_helptext"]
    assert page.by_id("id_email")["aria-describedby"] == "id_email_helptext"
    assert not any("data-error-summary" in a for _t, a in page.tags)


def test_an_application_shows_its_name_and_below_it_its_description_once() -> None:
    field = ApplicationsField(queryset=SecuredApplication.objects.none())
    same = SimpleNamespace(name="E-loket Zorg en Gezondheid", description="E-loket Zorg en Gezondheid")
    other = SimpleNamespace(name="RaaS", description="RVT als dienst")
    assert field.label_from_instance(same) == '<span class="app-name">E-loket Zorg en Gezondheid</span>'
    assert field.label_from_instance(other) == (
        '<span class="app-name">RaaS</span> <span class="app-description">RVT als dienst</span>'
    )
    escaped = SimpleNamespace(name="<b>", description="")
    assert field.label_from_instance(escaped) == '<span class="app-name">&lt;b&gt;</span>'


# --- allauth's pages: the portal's layout, formal -------------------------------------------------


def _in_layout(html: str) -> None:
    assert '<header class="top">' in html
    assert '<footer class="foot">' in html
    assert "toegang/site.css" in html


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/done/",
    ],
)
def test_allauth_entrance_pages_are_in_the_layout_and_formal(client: Client, lang: str, url: str) -> None:
    response = client.get(f"/{lang}{url}")
    assert response.status_code == 200
    html = response.content.decode()
    _in_layout(html)
    text = _text(html)
    if lang in INFORMAL:
        assert not INFORMAL[lang].search(text), INFORMAL[lang].search(text)
    for old in OLD_STRINGS:
        assert old not in text


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "url",
    [
        "/accounts/password/change/",
        "/accounts/email/",
        "/accounts/sessions/",
        "/accounts/2fa/",
        "/accounts/reauthenticate/",
    ],
)
def test_allauth_account_pages_are_in_the_layout_and_formal(world: World, client: Client, lang: str, url: str) -> None:
    login(client, world.person("user"))
    response = client.get(f"/{lang}{url}")
    assert response.status_code == 200, response
    html = response.content.decode()
    _in_layout(html)
    text = _text(html)
    if lang in INFORMAL:
        assert not INFORMAL[lang].search(text), INFORMAL[lang].search(text)


@pytest.mark.django_db
def test_after_setting_a_new_password_the_page_links_to_log_in(client: Client) -> None:
    for lang in LANGS:
        page = Tags(client.get(f"/{lang}/accounts/password/reset/key/done/").content.decode())
        assert ("a", {"class": "button", "href": f"/{lang}/accounts/login/"}) in page.tags


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "said", "informal"),
    [
        ("nl", "U bent aangemeld als", "Je bent nu ingelogd"),
        ("de", "angemeldet", "Du bist"),
        ("fr", "Connexion", "Tu es"),
    ],
)
def test_the_login_message_is_formal(world: World, client: Client, lang: str, said: str, informal: str) -> None:
    user = world.person("user")
    response = password_login(client, lang, user.username, PASSWORD)
    html = response.content.decode()
    messages = [str(m) for m in response.context["messages"]]
    assert messages and all(informal not in m for m in messages)
    if lang == "nl":
        assert f"U bent aangemeld als {user.username}." in messages or any(said in m for m in messages)
    assert informal not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "greeting", "regards"),
    [
        ("nl", "Geachte heer Test,", "Met vriendelijke groeten,"),
        ("fr", "Monsieur Test,", "salutations distinguées"),
        ("de", "Sehr geehrter Herr Test,", "Mit freundlichen Grüßen"),
    ],
)
def test_the_password_reset_mail_greets_formally(
    world: World, client: Client, lang: str, greeting: str, regards: str
) -> None:
    user = world.person("user")
    user.title, user.language = "mr", lang
    user.save(update_fields=["title", "language"])
    OutgoingMail.objects.all().delete()
    client.post(f"/{lang}/accounts/password/reset/", {"email": user.email})
    mail = OutgoingMail.objects.get(to=user.email)
    assert mail.body.startswith(greeting), mail.body[:80]
    assert regards in mail.body
    assert settings.BASE_URL.split("//")[1] in mail.body
    for old in OLD_STRINGS:
        assert old not in mail.body
    if lang in INFORMAL:
        assert not INFORMAL[lang].search(mail.body)


def _allauth_po(lang: str) -> polib.POFile:
    return polib.pofile(f"{allauth.__path__[0]}/locale/{lang}/LC_MESSAGES/django.po")


# allauth's texts of features toegang does not switch on (sign-up, phone, login by code, its own
# identity provider): they never reach a page.
UNUSED = re.compile(r"idp/|phone|signup|login_code|account_already_exists|headless/")


@pytest.mark.parametrize("lang", sorted(INFORMAL))
def test_every_informal_allauth_text_is_overridden_formally(lang: str) -> None:
    ours = {
        (e.msgctxt, e.msgid): e
        for e in polib.pofile(str(settings.BASE_DIR / "locale" / lang / "LC_MESSAGES" / "django.po"))
        if not e.obsolete
    }
    missing, still_informal = [], []
    for e in _allauth_po(lang):
        said = e.msgstr or " ".join(e.msgstr_plural.values())
        if e.obsolete or not INFORMAL[lang].search(said):
            continue
        files = [f for f, _line in e.occurrences]
        if files and all(UNUSED.search(f) for f in files):
            continue
        own = ours.get((e.msgctxt, e.msgid))
        if own is None:
            missing.append(e.msgid)
        elif INFORMAL[lang].search(own.msgstr or " ".join(own.msgstr_plural.values())):
            still_informal.append(e.msgid)
    assert missing == [], "list them in toegang/accounts/allauth_texts.py"
    assert still_informal == []


@pytest.mark.django_db
def test_an_overridden_text_wins_over_allauths_own() -> None:
    with translation.override("nl"):
        assert translation.gettext("Successfully signed in as %(name)s.") == "U bent aangemeld als %(name)s."
    with translation.override("de"):
        assert translation.gettext("You have signed out.") == "Sie haben sich abgemeldet."


# --- 403, 404, 500 --------------------------------------------------------------------------------

NOT_FOUND = {"nl": "Pagina niet gevonden", "fr": "Page introuvable", "de": "Seite nicht gefunden"}
FORBIDDEN = {
    "nl": "Geen toegang tot deze pagina",
    "fr": "Pas d'accès à cette page",
    "de": "Kein Zugang zu dieser Seite",
}
SERVER_ERROR = {
    "nl": "Sorry, er is een probleem met de dienst",
    "fr": "Désolé, le service rencontre un problème",
    "de": "Entschuldigung, es gibt ein Problem mit dem Dienst",
}


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
def test_404_is_translated_and_in_the_layout(client: Client, lang: str) -> None:
    response = client.get(f"/{lang}/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{NOT_FOUND[lang]}</h1>" in html
    _in_layout(html)


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
def test_403_is_translated_and_in_the_layout(world: World, client: Client, lang: str) -> None:
    login(client, world.person("sb"))
    response = client.get(f"/{lang}/operator/")
    assert response.status_code == 403
    html = response.content.decode()
    assert f"<h1>{FORBIDDEN[lang]}</h1>" in html.replace("&#x27;", "'")
    _in_layout(html)


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns: list[URLPattern | URLResolver] = [*i18n_patterns(path("boom/", _boom)), *toegang_urls.urlpatterns]
handler500 = errors.server_error


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("lang", LANGS)
def test_500_is_translated_and_in_the_layout(lang: str) -> None:
    client = Client(raise_request_exception=False)
    response = client.get(f"/{lang}/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert f"<h1>{SERVER_ERROR[lang]}</h1>" in html
    _in_layout(html)


@pytest.mark.parametrize("lang", LANGS)
def test_the_500_page_needs_no_database_and_no_request_context(lang: str) -> None:
    # No django_db mark: any query fails this test. The request has no user, no session.
    request = RequestFactory().get(f"/{lang}/")
    with translation.override(lang):
        response = errors.server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert SERVER_ERROR[lang] in html
    assert f"/{lang}/about/accessibility/" in html


# --- the footer -------------------------------------------------------------------------------------


def _footer_links(html: str) -> dict[str, str]:
    footer = html[html.index('<footer class="foot">') :]
    return {unescape(text.strip()): href for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', footer)}


@pytest.mark.django_db
def test_the_footer_links_to_toegangs_own_pages_by_default(client: Client) -> None:
    links = _footer_links(client.get("/fr/accounts/login/").content.decode())
    assert links == {
        "Contact": "/fr/about/contact/",
        "Vie privée": "/fr/about/privacy/",
        "Déclaration d'accessibilité": "/fr/about/accessibility/",
    }
    for href in links.values():
        assert client.get(href).status_code == 200


@pytest.mark.django_db
def test_the_footer_links_are_the_operators_when_configured(client: Client, settings: Any) -> None:
    settings.CONTACT_URL = "https://support.example.be/{lang}/contact"
    settings.PRIVACY_URL = "https://example.be/privacy"
    settings.ACCESSIBILITY_URL = "https://example.be/{lang}/toegankelijkheid"
    links = _footer_links(client.get("/de/accounts/login/").content.decode())
    assert links == {
        "Kontakt": "https://support.example.be/de/contact",
        "Datenschutz": "https://example.be/privacy",
        "Erklärung zur Barrierefreiheit": "https://example.be/de/toegankelijkheid",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["contact", "privacy", "accessibility"])
def test_the_about_pages_give_the_operators_address(client: Client, settings: Any, page: str) -> None:
    settings.CONTACT_EMAIL = "toegang@example.be"
    html = client.get(f"/nl/about/{page}/").content.decode()
    assert 'href="mailto:toegang@example.be"' in html
    assert client.get("/nl/about/nothing/").status_code == 404


def test_the_favicon_is_linked_and_exists() -> None:
    icon = settings.BASE_DIR / "toegang" / "static" / "toegang" / "favicon.svg"
    assert icon.read_text().startswith("<svg")
    assert "toegang/favicon.svg" in (settings.BASE_DIR / "toegang" / "templates" / "base.html").read_text()


CSRF = {
    "nl": "Het formulier kon niet verstuurd worden",
    "fr": "Le formulaire n'a pas pu être envoyé",
    "de": "Das Formular konnte nicht gesendet werden",
}


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
def test_a_form_sent_without_its_token_gets_a_translated_403(lang: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/{lang}/accounts/login/", {"login": "x", "password": "y"})
    assert response.status_code == 403
    html = unescape(response.content.decode())
    assert f"<h1>{CSRF[lang]}</h1>" in html
    assert "CSRF" not in _text(html)
    _in_layout(html)
