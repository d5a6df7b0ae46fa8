"""One audit vocabulary: every event goes through ``audit_record`` with an ``Action``, is stored as codes
and facts, and reads as a sentence in the reader's language on the trail, the subdepartment's affairs
page, a user's page and the person's own history."""

from __future__ import annotations

import ast
import datetime as dt
import re
from html import unescape
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from tests.conftest import World, login
from toegang.accounts.models import User
from toegang.accounts.services import person_update_self
from toegang.applications.services import subdepartment_applications_set
from toegang.audit.actions import Action, Reason
from toegang.audit.models import AuditEvent
from toegang.audit.rendering import (
    BLOCKED,
    LIMIT_PER_ACCOUNT,
    LIMIT_PER_ADDRESS,
    SENTENCES,
    UNBLOCKED,
    render_events,
)
from toegang.audit.services import audit_event, audit_record, audit_record_many
from toegang.delegation.models import Role, RoleAssignment, Status
from toegang.delegation.services import membership_end, membership_update, role_appoint, subdepartment_user_add

ROOT = Path(settings.BASE_DIR)
PACKAGE = ROOT / "toegang"
WRITERS = {"create", "bulk_create", "get_or_create", "update_or_create"}


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def url(name: str, *args: object, lang: str = "nl") -> str:
    with translation.override(lang):
        return reverse(name, args=args)


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return unescape(response.content.decode())


def trail_table(html: str) -> str:
    match = re.search(r'<table class="grid trail">(.*?)</table>', html, re.S)
    assert match is not None, "no trail table on the page"
    return match.group(1)


def rows(html: str) -> list[tuple[str, str]]:
    """(action code, sentence) of each event row."""
    return [
        (code, re.sub(r"<[^>]+>", "", sentence).strip())
        for code, sentence in re.findall(
            r'<tr data-action="([a-z_.]+)">.*?<td class="what">(.*?)</td>', trail_table(html), re.S
        )
    ]


# --- One way in -----------------------------------------------------------------------------------


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(), filename=str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts and not path.is_relative_to(PACKAGE / "audit")
    ]


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def test_no_module_outside_audit_writes_an_audit_event_itself() -> None:
    offences = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            called = _name(node.func)
            writes = called.startswith("AuditEvent.") and called.rsplit(".", 1)[-1] in WRITERS
            if called == "AuditEvent" or writes:
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}(...)")
    assert offences == [], "audit events are written by toegang.audit.services.audit_record only"


def test_no_module_passes_an_action_as_a_plain_string() -> None:
    """Neither to audit_record nor to the helpers in front of it (_grant_audit, _audit_assignment, ...)."""
    codes = set(Action.values)
    offences = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            values = [*node.args, *(k.value for k in node.keywords)]
            for value in values:
                literal = value.value if isinstance(value, ast.Constant) else None
                if isinstance(literal, str) and literal in codes:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {literal!r}")
            for k in node.keywords:
                literal_action = isinstance(k.value, ast.Constant | ast.JoinedStr)
                if k.arg == "action" and _name(node.func).endswith("audit_record") and literal_action:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} action={ast.unparse(k.value)}")
    assert offences == [], "use toegang.audit.actions.Action"


@pytest.mark.django_db
def test_audit_record_refuses_a_string_and_records_an_event_without_object() -> None:
    with transaction.atomic():
        with pytest.raises(TypeError):
            audit_record(actor=None, action="grant.add", object_type="login")  # type: ignore[arg-type]
        event = audit_record(
            actor=None, action=Action.LOGIN_PASSWORD_FAILED, object_type="login", params={"login_name": "niemand"}
        )
    assert (event.object_type, event.object_id, event.person_id, event.action) == (
        "login",
        "",
        None,
        "login.password.failed",
    )


@pytest.mark.django_db
def test_a_batch_of_events_is_written_at_once(world: World) -> None:
    sd = world.zon.sd
    events = [audit_event(actor=None, action=Action.USER_ADD, obj=sd, subdepartment=sd) for _ in range(3)]
    with transaction.atomic():
        audit_record_many(events)
    written = AuditEvent.objects.filter(subdepartment=sd, action="user.add", object_type="organisations.subdepartment")
    assert written.count() == 3
    assert written.first().params["subdepartment_name"] == sd.name  # type: ignore[union-attr]


def test_the_audit_app_imports_no_domain_app_at_run_time() -> None:
    domain = ("toegang.accounts", "toegang.organisations", "toegang.delegation", "toegang.applications")
    offences = []
    for path in sorted((PACKAGE / "audit").rglob("*.py")):
        tree = ast.parse(path.read_text())
        guarded = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and _name(node.test) == "TYPE_CHECKING"
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(domain):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
            if isinstance(node, ast.Import) and any(a.name.startswith(domain) for a in node.names):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offences == []


# --- One sentence per action, in every language ---------------------------------------------------


def test_every_action_has_a_sentence_in_all_four_catalogues() -> None:
    assert set(SENTENCES) == set(Action)
    # The msgid of a lazy translation is the argument it was made with.
    lazy = [*SENTENCES.values(), BLOCKED, UNBLOCKED, LIMIT_PER_ADDRESS, LIMIT_PER_ACCOUNT]
    lazy += [*Action.labels, *Reason.labels]
    msgids = [str(text._args[0]) for text in lazy]  # type: ignore[attr-defined]
    for lang in ("nl", "fr", "de", "en"):
        po = polib.pofile(str(ROOT / "locale" / lang / "LC_MESSAGES" / "django.po"))
        entries = {e.msgid: e for e in po if not e.obsolete}
        for msgid in msgids:
            entry = entries.get(msgid)
            assert entry is not None and entry.msgstr and "fuzzy" not in entry.flags, (lang, msgid)
            if lang != "en":
                with translation.override(lang):
                    assert gettext(msgid) != msgid, (lang, msgid)


# --- A German manager reads what a French-speaking manager did --------------------------------------


@pytest.mark.django_db
def test_german_manager_reads_a_french_actors_events_in_german_only(world: World) -> None:
    z = world.zon
    app = world.apps[0]
    app.name_nl, app.name_fr, app.name_de, app.name_en = (
        "Thuisverpleging",
        "Soins à domicile",
        "Hauspflege",
        "Home nursing",
    )
    app.save()
    sb, tb = z.people["sb"], z.people["tb"]
    sb.language, tb.language = "fr", "de"
    sb.save()
    tb.save()
    newcomer = User.objects.create_user(
        username="camille", first_name="Camille", last_name="Dubois", ssin="85073003328"
    )
    with translation.override("fr"):  # as the French-speaking SB's requests run
        m = subdepartment_user_add(
            actor=sb, subdepartment=z.sd, ssin=newcomer.ssin or "", email="camille@example.test", applications=[app]
        )
        membership_update(actor=sb, membership=m, applications=[app], status=Status.BLOCKED, email="c@example.test")
        membership_end(actor=sb, membership=m, reason="")
        role_appoint(
            actor=tb,
            role=Role.CO_SUBDEPARTMENT_MANAGER,
            scope=z.sd,
            ssin=z.people["nobody"].ssin or "",
            email="n@x.test",
        )
    stored = AuditEvent.objects.filter(subdepartment=z.sd, person=newcomer)
    assert "Utilisateur" in " ".join(stored.values_list("object_repr", flat=True))  # the old label was the actor's
    client = login(Client(), tb)
    html = page(client, url("portal:audit", "s", z.sd.pk, lang="de"))
    table = trail_table(html)
    french = [app.name_fr, "Utilisateur", "Gestionnaire", "Bloqué", "sous-section", " a ", "supprimé", "Dubois Camille"]
    dutch = [app.name_nl, "Gebruiker", "beheerder", "Geblokkeerd", "subafdeling", " gaf ", "verwijderd"]
    for word in french + dutch:
        assert word not in table, word
    sentences = dict(reversed(rows(html)))
    person = "Camille Dubois"
    sb_name = f"{sb.first_name} {sb.last_name}"
    assert sentences["user.add"] == f"{sb_name} hat {person} als Benutzer von {z.sd.name} hinzugefügt"
    assert sentences["grant.add"] == f"{sb_name} hat {person} Zugang zu Hauspflege in {z.sd.name} gewährt"
    assert sentences["user.change"] == f"{sb_name} hat {person} in {z.sd.name} gesperrt"
    assert sentences["user.end"] == f"{sb_name} hat {person} als Benutzer von {z.sd.name} entfernt"
    assert "als Co-Verwalter" in sentences["role.appoint"] or "als Co-" in sentences["role.appoint"]
    assert "Status: Aktiv → Gesperrt" in table
    # The grants ended with the membership, with the reason code rendered in German.
    assert "die Person ist kein Benutzer der Unterabteilung mehr" in table
    # The filter's actions are German too.
    assert ">Zugang gewährt</option>" in html


@pytest.mark.django_db
def test_changed_fields_read_as_labels_and_values_in_the_readers_language(world: World) -> None:
    user = world.person("user")
    person_update_self(actor=user, email=user.email, title=user.title, language="fr")
    client = login(Client(), user)
    with translation.override("nl"):
        label, dutch, french = gettext("Language"), gettext("Dutch"), gettext("French")
    html = page(client, url("portal:my_history"))
    assert f"{label}: {dutch} → {french}" in trail_table(html)
    assert ("person.update_self", f"{user.first_name} {user.last_name} wijzigde de eigen gegevens") in rows(html)


@pytest.mark.django_db
def test_a_rate_limit_reason_reads_in_the_readers_language() -> None:
    event = AuditEvent(
        action="login.password.locked", params={"login_name": "sb"}, reason="10/m/ip full; 5/15m/key full"
    )
    with translation.override("fr"):
        rendered = render_events([event])[0]
        expected = "; ".join(
            str(t) % {"limit": limit} for t, limit in ((LIMIT_PER_ADDRESS, "10/m"), (LIMIT_PER_ACCOUNT, "5/15m"))
        )
    assert rendered.reason == expected
    assert "full" not in rendered.reason and rendered.reason.startswith("la limite")
    assert rendered.sentence == "Une connexion par mot de passe en tant que sb a été bloquée après trop de tentatives"


def test_an_event_written_before_the_facts_still_reads() -> None:
    # As the first release wrote it: no facts, the object's label in the actor's language.
    legacy = AuditEvent(action="grant.end", object_repr="Utilisateur: Dubois Camille", params={}, before={"x": 1})
    with translation.override("de"):
        rendered = render_events([legacy])[0]
    assert rendered.sentence == "Zugang beendet: Utilisateur: Dubois Camille"
    unknown = AuditEvent(action="something.removed", object_repr="X", params={"person_name": "A"})
    assert render_events([unknown])[0].sentence == "something.removed: X"


# --- The trail page -----------------------------------------------------------------------------------


def _toggle_grants(world: World, times: int) -> None:
    z = world.zon
    m = RoleAssignment.objects.active().get(subdepartment=z.sd, role=Role.USER)
    for i in range(times):
        membership_update(
            actor=z.people["sb"],
            membership=m,
            applications=world.apps[:1] if i % 2 == 0 else [],
            status=Status.ACTIVE,
            email="user@example.test",
        )


def _queries(client: Client, path: str) -> int:
    # The request resets the query log on start: an earlier capture's queries must not offset this one.
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_a_page_of_fifty_events_costs_a_fixed_number_of_queries(world: World) -> None:
    z = world.zon
    client = login(Client(), z.people["tb"])
    path = url("portal:audit", "s", z.sd.pk)
    client.get(path)  # the session's first request records it for the sessions page: not the page's cost
    few = _queries(client, path)
    _toggle_grants(world, 60)
    subdepartment_applications_set(actor=z.people["tb"], subdepartment=z.sd, applications=world.apps)
    assert AuditEvent.objects.filter(subdepartment=z.sd).count() > 60
    full = _queries(client, path)
    assert len(rows(page(client, path))) == 50
    # No query per event: a full page costs no more than a nearly empty one.
    assert full <= few <= 15, (few, full)


@pytest.mark.django_db
def test_trail_filters_who_whom_action_and_period(world: World) -> None:
    z = world.zon
    user, sb, tb = z.people["user"], z.people["sb"], z.people["tb"]
    _toggle_grants(world, 3)  # grant.add, grant.end, grant.add for "user", by the SB
    subdepartment_applications_set(actor=tb, subdepartment=z.sd, applications=world.apps)
    client = login(Client(), tb)
    base = url("portal:audit", "s", z.sd.pk)
    by_sb = rows(page(client, f"{base}?who={sb.last_name}+{sb.first_name}"))
    assert by_sb and all(s.startswith(f"{sb.first_name} {sb.last_name} ") for _c, s in by_sb)
    about_user = rows(page(client, f"{base}?whom={user.ssin}"))
    assert {c for c, _s in about_user} == {"grant.add", "grant.end", "role.appoint"}
    grants = rows(page(client, f"{base}?action=grant.end&whom={user.first_name}"))
    assert [c for c, _s in grants] == ["grant.end"]
    today = timezone.localdate()
    assert rows(page(client, f"{base}?since={today + dt.timedelta(days=1)}")) == []
    assert (
        len(rows(page(client, f"{base}?since={today}&until={today}")))
        == AuditEvent.objects.filter(subdepartment=z.sd).count()
    )
    assert rows(page(client, f"{base}?until={today - dt.timedelta(days=1)}")) == []
    # An invalid value is reported and ignored, not a server error.
    html = page(client, f"{base}?action=nonsense&since=yesterday")
    assert 'class="error-summary"' in html and rows(html)
    # The GOV.UK error summary: a link to each field in error, named by its label.
    assert 'href="#id_action"' in html and 'href="#id_since"' in html


@pytest.mark.django_db
def test_numbered_pages_keep_the_filters(world: World) -> None:
    z = world.zon
    _toggle_grants(world, 120)
    client = login(Client(), z.people["tb"])
    base = url("portal:audit", "s", z.sd.pk)
    html = page(client, f"{base}?action=grant.add&page=2")
    assert re.search(r'href="\?action=grant\.add&page=1"', html)
    assert re.search(r'href="\?action=grant\.add&page=2" aria-current="page"', html)
    assert 'rel="next"' not in html or "page=3" in html
    assert {c for c, _s in rows(html)} == {"grant.add"}


@pytest.mark.django_db
def test_the_trail_is_scoped_as_before(world: World) -> None:
    z, other = world.zon, world.ander
    client = login(Client(), z.people["sb"])
    assert client.get(url("portal:audit", "s", other.sd.pk)).status_code == 404
    assert client.get(url("portal:audit", "q", z.eq.pk)).status_code in (403, 404)
    html = page(client, url("portal:audit", "s", z.sd.pk) + f"?whom={other.people['user'].ssin}")
    assert rows(html) == []


# --- A person's history on their user page ------------------------------------------------------------


@pytest.mark.django_db
def test_user_page_shows_the_persons_history_in_this_subdepartment(world: World) -> None:
    z = world.zon
    m = RoleAssignment.objects.active().get(subdepartment=z.sd, role=Role.USER)
    sb = z.people["sb"]
    email = m.contact_email
    membership_update(actor=sb, membership=m, applications=world.apps[:1], status=Status.ACTIVE, email=email)
    membership_update(actor=sb, membership=m, applications=world.apps[:1], status=Status.BLOCKED, email=email)
    # Events elsewhere or about someone else are not this person's history here.
    subdepartment_applications_set(actor=z.people["tb"], subdepartment=z.sd, applications=world.apps)
    client = login(Client(), sb)
    html = page(client, url("portal:user_detail", z.sd.pk, m.pk))
    history = rows(html)
    assert [c for c, _s in history] == ["user.change", "grant.add", "role.appoint"]  # newest first
    name = f"{m.person.first_name} {m.person.last_name}"
    assert history[0][1] == f"{sb.first_name} {sb.last_name} blokkeerde {name} in {z.sd.name}"
    assert (
        history[1][1] == f"{sb.first_name} {sb.last_name} gaf {name} toegang tot {world.apps[0].name_nl} in {z.sd.name}"
    )
    trail = url("portal:audit", "s", z.sd.pk) + f"?whom={m.person.ssin}"
    assert f'href="{trail}"' in html
    assert {c for c, _s in rows(page(client, trail))} == {"user.change", "grant.add", "role.appoint"}


# --- The data migration --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_migration_names_the_person_of_old_events(world: World) -> None:
    from importlib import import_module

    backfill = import_module("toegang.audit.migrations.0003_auditevent_person_backfill").person_from_old_events
    user = world.person("user")
    with transaction.atomic():
        own = audit_record(actor=user, action=Action.LOGIN_SUCCESS, obj=user)
        grant = audit_record(
            actor=None, action=Action.GRANT_ADD, obj=world.zon.sd, after={"person": user.pk, "application": "raas"}
        )
        stray = audit_record(actor=None, action=Action.GRANT_END, obj=world.zon.sd, before={"person": 10**9})
    state_apps = MigrationLoader(connection).project_state(("audit", "0003_auditevent_person_backfill")).apps
    Historical = state_apps.get_model("audit", "AuditEvent")
    # As before the column existed (the historical model has no append-only guard): no person.
    Historical.objects.filter(pk__in=[own.pk, grant.pk, stray.pk]).update(person=None)
    backfill(state_apps, None)
    persons = dict(AuditEvent.objects.filter(pk__in=[own.pk, grant.pk, stray.pk]).values_list("pk", "person_id"))
    assert persons == {own.pk: user.pk, grant.pk: user.pk, stray.pk: None}


@pytest.mark.django_db
def test_a_catalogue_change_keeps_codes_not_names(world: World) -> None:
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from toegang.organisations.models import Quality

    quality = world.quality
    model_admin = site._registry[Quality]
    request = RequestFactory().post("/")
    request.user = world.operator
    form_class = model_admin.get_form(request, quality, change=True)
    unbound = form_class(instance=quality)
    data: dict[str, Any] = {name: unbound[name].value() for name in unbound.fields}
    data = {k: v for k, v in data.items() if v is not None}
    data["name_fr"] = "Maison de repos"
    form = form_class(data, instance=quality)
    assert form.is_valid(), form.errors
    with translation.override("fr"):
        model_admin.save_model(request, form.save(commit=False), form, True)
    event = AuditEvent.objects.filter(action="catalogue.change").latest("id")
    assert event.after == {"name_fr": "Maison de repos"}
    assert event.before is not None
    assert event.before["applications"] == sorted(a.code for a in quality.applications.all())
    assert event.before["audience"] == quality.audience_id  # an id, as the form holds it
    with translation.override("de"):
        rendered = render_events([event])[0]
    assert rendered.sentence == f"{world.operator.username} hat {quality.code} im Katalog geändert"
