"""Audit events as sentences in the reader's language, rendered when read.

An event stores codes and language-neutral facts (``AuditEvent.params``); this module turns them into
"Sofie Subbeheer gave Jan Peeters access to RaaS in Campus Noord" in whatever language is active,
with the before → after of changed fields ("Language: Dutch → French") and the reason.

Catalogue names (applications, qualities) and the labels of coded fields (role, status, language)
belong to domain apps, which ``toegang.audit`` may not import: they are reached through Django's app
registry at read time, one query per catalogue for a whole page of events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.apps import apps
from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from toegang.audit.actions import Action, Reason
from toegang.audit.models import AuditEvent

# One sentence per action. %(actor)s did it, %(person)s is whom it concerns; the other names are the
# event's facts (see ``_facts``).
SENTENCES: dict[Action, Promise] = {
    Action.ROLE_APPOINT: gettext_lazy("%(actor)s appointed %(person)s as %(role)s in %(scope)s"),
    Action.ROLE_END: gettext_lazy("%(actor)s ended the role of %(person)s as %(role)s in %(scope)s"),
    Action.USER_ADD: gettext_lazy("%(actor)s added %(person)s as a user of %(subdepartment)s"),
    Action.USER_CHANGE: gettext_lazy("%(actor)s changed the data of %(person)s in %(subdepartment)s"),
    Action.USER_END: gettext_lazy("%(actor)s removed %(person)s as a user of %(subdepartment)s"),
    Action.USER_END_PLANNED: gettext_lazy(
        "%(actor)s set the last day of %(person)s as a user of %(subdepartment)s to %(until)s"
    ),
    Action.PERSON_CORRECT: gettext_lazy("%(actor)s corrected the personal data of %(person)s"),
    Action.GRANT_ADD: gettext_lazy("%(actor)s gave %(person)s access to %(application)s in %(subdepartment)s"),
    Action.GRANT_END: gettext_lazy("%(actor)s ended the access of %(person)s to %(application)s in %(subdepartment)s"),
    Action.GRANT_EXPIRED: gettext_lazy(
        "The access of %(person)s to %(application)s in %(subdepartment)s ended at its planned end (%(until)s)"
    ),
    Action.ROLE_EXPIRED: gettext_lazy(
        "The role of %(person)s as %(role)s in %(scope)s ended at its planned end (%(until)s)"
    ),
    Action.ENTERPRISE_REGISTER: gettext_lazy("%(actor)s registered the enterprise %(enterprise)s"),
    Action.QUALITY_ACTIVATE: gettext_lazy("%(actor)s activated the quality %(quality)s for %(enterprise)s"),
    Action.QUALITY_MAX_ACCESS: gettext_lazy(
        "%(actor)s set the maximum duration of an access in the quality %(quality)s of %(enterprise)s"
    ),
    Action.SUBDEPARTMENT_CREATE: gettext_lazy("%(actor)s created the subdepartment %(subdepartment)s"),
    Action.APPLICATION_SWITCH_ON: gettext_lazy("%(actor)s switched on %(application)s for %(subdepartment)s"),
    Action.APPLICATION_SWITCH_OFF: gettext_lazy("%(actor)s switched off %(application)s for %(subdepartment)s"),
    Action.CERTIFICATE_UPLOAD: gettext_lazy("%(actor)s added a certificate for %(subdepartment)s"),
    Action.CERTIFICATE_REVOKE: gettext_lazy("%(actor)s revoked a certificate of %(subdepartment)s"),
    Action.PERSON_UPDATE_SELF: gettext_lazy("%(actor)s changed their own data"),
    Action.PERSON_TEMPORARY_PASSWORD: gettext_lazy("%(actor)s gave %(person)s a temporary password"),
    Action.PERSON_PASSWORD_CHANGE: gettext_lazy("%(actor)s chose a new password"),
    Action.ACCOUNT_ACTIVATE: gettext_lazy("%(person)s activated their account"),
    Action.ACCOUNT_CLAIM: gettext_lazy("%(person)s took over their account with a proven identity"),
    Action.ACTIVATION_SEND: gettext_lazy("%(actor)s sent %(person)s the activation link for %(scope)s"),
    Action.ROLE_CONFIRM: gettext_lazy("%(person)s confirmed their appointment as %(role)s in %(scope)s"),
    Action.LOGIN_SUCCESS: gettext_lazy("%(person)s logged in"),
    Action.LOGIN_PASSWORD_FAILED: gettext_lazy("A password login as %(login)s failed"),
    Action.LOGIN_PASSWORD_LOCKED: gettext_lazy("A password login as %(login)s was blocked after too many attempts"),
    Action.LOGIN_EID_SUCCESS: gettext_lazy("%(person)s logged in with an eID card"),
    Action.LOGIN_EID_REFUSED: gettext_lazy("A login with an eID card was refused"),
    Action.LOGIN_EXTERNAL_ACCEPTED: gettext_lazy("%(person)s logged in through %(provider)s"),
    Action.LOGIN_EXTERNAL_LINKED: gettext_lazy("%(person)s linked their identity at %(provider)s"),
    Action.LOGIN_EXTERNAL_REFUSED: gettext_lazy("A login through %(provider)s was refused"),
    Action.OIDC_CLIENT_REGISTERED: gettext_lazy(
        "%(actor)s registered the OpenID Connect client %(client)s for %(application)s"
    ),
    Action.OIDC_CLIENT_UPDATED: gettext_lazy(
        "%(actor)s changed the OpenID Connect client %(client)s for %(application)s"
    ),
    Action.OIDC_LOGOUT: gettext_lazy("%(person)s logged out of toegang through %(client)s, whose tokens were revoked"),
    Action.OIDC_CODE_REPLAYED: gettext_lazy(
        "%(client)s used an authorization code of %(person)s twice: the tokens of its first use were revoked"
    ),
    Action.OIDC_TOKEN_EXCHANGED: gettext_lazy(
        "%(client)s exchanged a token of %(person)s for one restricted to %(subdepartment)s"
    ),
    Action.OIDC_TOKEN_EXCHANGE_REFUSED: gettext_lazy("%(client)s was refused a token of %(person)s for one facility"),
    Action.OIDC_SESSION_ENDED: gettext_lazy(
        "A session of %(person)s ended; the applications it had logged into were told (back-channel logout)"
    ),
    Action.CATALOGUE_ADD: gettext_lazy("%(actor)s added %(entry)s to the catalogue"),
    Action.CATALOGUE_CHANGE: gettext_lazy("%(actor)s changed %(entry)s in the catalogue"),
    Action.DATA_GENERATED: gettext_lazy("%(actor)s generated scale data (%(scale)s)"),
}

# A change of status says more than "changed the data".
BLOCKED = gettext_lazy("%(actor)s blocked %(person)s in %(subdepartment)s")
UNBLOCKED = gettext_lazy("%(actor)s unblocked %(person)s in %(subdepartment)s")

# Snapshot keys the sentence already says, or that are bookkeeping: not listed as changes.
_NOT_CHANGES = frozenset(
    {
        "person",
        "ssin",
        "role",
        "enterprise",
        "enterprise_quality",
        "subdepartment",
        "application",
        "valid_from",
        "valid_until",
        "end_reason",
        "active",
        "on",
        "revoke_reason",
        "revoked",
    }
)

# Where a snapshot key's label and value labels come from: (app label, model, field).
_FIELDS: dict[str, tuple[str, str, str]] = {
    "last_name": ("accounts", "User", "last_name"),
    "first_name": ("accounts", "User", "first_name"),
    "title": ("accounts", "User", "title"),
    "email": ("accounts", "User", "email"),
    "local_email": ("accounts", "User", "local_email"),
    "phone": ("accounts", "User", "phone"),
    "language": ("accounts", "User", "language"),
    "must_change_password": ("accounts", "User", "must_change_password"),
    "status": ("delegation", "RoleAssignment", "status"),
    "contact_email": ("delegation", "RoleAssignment", "contact_email"),
    "contact_local_email": ("delegation", "RoleAssignment", "contact_local_email"),
    "contact_phone": ("delegation", "RoleAssignment", "contact_phone"),
}


# The portal's own words where the model's label differs (Django's User calls the last name
# "achternaam"; the manual's screens say "Naam").
_LABELS: dict[str, Promise] = {
    "last_name": gettext_lazy("Last name"),
    "first_name": gettext_lazy("First name"),
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class RenderedEvent:
    event: AuditEvent
    sentence: str
    changes: Sequence[Change]
    reason: str


class _Facts(dict[str, str]):
    # A fact an old or unusual event lacks reads as a dash rather than breaking the sentence.
    def __missing__(self, key: str) -> str:
        return "—"


def _action_label(code: str) -> str:
    return str(Action(code).label) if code in Action.values else code


def _model_field(app_label: str, model: str, name: str) -> models.Field[Any, Any] | None:
    try:
        field = apps.get_model(app_label, model)._meta.get_field(name)
    except LookupError:
        return None
    return field if isinstance(field, models.Field) else None


def _field(key: str) -> models.Field[Any, Any] | None:
    source = _FIELDS.get(key)
    return _model_field(*source) if source is not None else None


def _person_name(user: Any) -> str:
    if user is None:
        return ""
    return f"{user.first_name} {user.last_name}".strip() or str(user.username)


class _Catalogue:
    """The names, in the active language, of every application and quality a page of events names."""

    def __init__(self, events: Sequence[AuditEvent]) -> None:
        app_codes: set[str] = set()
        quality_ids: set[int] = set()
        quality_codes: set[str] = set()
        for ev in events:
            for data in (ev.params, ev.after, ev.before):
                if isinstance(data, dict) and isinstance(data.get("application"), str):
                    app_codes.add(data["application"])
            if isinstance(ev.params, dict) and isinstance(ev.params.get("quality_id"), int):
                quality_ids.add(ev.params["quality_id"])
            if ev.action == Action.QUALITY_ACTIVATE and isinstance(ev.after, dict):
                quality_codes.add(str(ev.after.get("quality", "")))
        self.applications: dict[str, str] = {}
        self.qualities_by_id: dict[int, str] = {}
        self.qualities_by_code: dict[str, str] = {}
        if app_codes:
            model = apps.get_model("applications", "SecuredApplication")
            self.applications = {a.code: a.name for a in model.objects.filter(code__in=app_codes)}
        if quality_ids or quality_codes:
            model = apps.get_model("organisations", "Quality")
            for q in model.objects.filter(models.Q(pk__in=quality_ids) | models.Q(code__in=quality_codes)):
                self.qualities_by_id[q.pk] = q.name
                self.qualities_by_code[q.code] = q.name

    def application(self, code: Any) -> str:
        return self.applications.get(str(code), str(code)) if code else "—"


def _choice_label(field: models.Field[Any, Any] | None, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if field is not None and field.choices:
        for code, label in field.flatchoices:
            if code == value:
                return str(label)
    return str(value)


def _changes(ev: AuditEvent) -> list[Change]:
    before, after = ev.before, ev.after
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    changes = []
    for key, new in after.items():
        if key in _NOT_CHANGES or key not in before or before[key] == new:
            continue
        field = _field(key)
        label = str(_LABELS.get(key) or (field.verbose_name if field is not None else key.replace("_", " ")))
        changes.append(
            Change(label[:1].upper() + label[1:], _choice_label(field, before[key]), _choice_label(field, new))
        )
    return changes


# toegang.accounts.passwords.limits_reached names the full "login_failed" limits as "10/m/ip full"
# (one address), "5/15m/account@ip full" (one account from one address), "100/d/account full" (one
# account); events of the first release named the account's limit "5/15m/key full".
_FULL_LIMIT = re.compile(r"^(?P<limit>\d+/\w+)/(?P<scope>ip|key|account@ip|account) full$")
LIMIT_PER_ADDRESS = gettext_lazy("the limit of failed attempts from one address (%(limit)s) was reached")
LIMIT_PER_ACCOUNT_AND_ADDRESS = gettext_lazy(
    "the limit of failed attempts for one account from one address (%(limit)s) was reached"
)
LIMIT_PER_ACCOUNT = gettext_lazy("the limit of failed attempts for one account (%(limit)s) was reached")
_LIMIT_TEMPLATES = {
    "ip": LIMIT_PER_ADDRESS,
    "account@ip": LIMIT_PER_ACCOUNT_AND_ADDRESS,
    "account": LIMIT_PER_ACCOUNT,
    "key": LIMIT_PER_ACCOUNT,
}


def _reason(ev: AuditEvent) -> str:
    if ev.reason in Reason.values:
        return str(Reason(ev.reason).label)
    if ev.action == Action.LOGIN_PASSWORD_LOCKED:
        parts = []
        for part in ev.reason.split("; "):
            full = _FULL_LIMIT.match(part)
            if full is None:
                parts.append(part)
                continue
            template = _LIMIT_TEMPLATES[full["scope"]]
            parts.append(str(template) % {"limit": full["limit"]})
        return "; ".join(parts)
    return ev.reason


def _facts(ev: AuditEvent, catalogue: _Catalogue, role_field: models.Field[Any, Any] | None) -> _Facts:
    p: Mapping[str, Any] = ev.params if isinstance(ev.params, dict) else {}
    after: Mapping[str, Any] = ev.after if isinstance(ev.after, dict) else {}
    actor = _person_name(ev.actor) or _("The system")
    person = str(p.get("person_name") or "") or actor
    quality = catalogue.qualities_by_id.get(p.get("quality_id", -1)) or catalogue.qualities_by_code.get(
        str(after.get("quality", "")), "—"
    )
    if p.get("subdepartment_name"):
        scope = str(p["subdepartment_name"])
    elif p.get("quality_id") is not None:
        scope = f"{quality} ({p.get('enterprise_name', '—')})"
    else:
        scope = str(p.get("enterprise_name", "—"))
    return _Facts(
        actor=actor,
        person=person,
        role=_choice_label(role_field, p.get("role")),
        scope=scope,
        subdepartment=str(p.get("subdepartment_name", "—")),
        enterprise=str(p.get("enterprise_name") or after.get("name") or "—"),
        quality=quality,
        application=catalogue.application(p.get("application") or after.get("application")),
        login=str(p.get("person_name") or p.get("login_name") or "—"),
        provider=str(p.get("provider") or after.get("provider") or "—"),
        client=str(p.get("client_id", "—")),
        entry=str(p.get("code", "—")),
        scale=str(p.get("scale", "—")),
        until=_date(p.get("until")),
    )


def _date(value: Any) -> str:
    """An ISO date of the params (``"2026-12-31"``) as the portal writes dates (31/12/2026)."""
    try:
        return f"{date.fromisoformat(str(value)):%d/%m/%Y}"
    except ValueError:
        return "—"


def _legacy_sentence(ev: AuditEvent) -> str:
    # Written before events kept their facts: the action's name and the label stored then.
    label = _action_label(ev.action)
    return f"{label}: {ev.object_repr}" if ev.object_repr else label


def _sentence(ev: AuditEvent, facts: _Facts) -> str:
    action = Action(ev.action)
    template = SENTENCES[action]
    if action == Action.USER_CHANGE and isinstance(ev.before, dict) and isinstance(ev.after, dict):
        was, now = ev.before.get("status"), ev.after.get("status")
        if was != now:
            template = BLOCKED if now == "blocked" else UNBLOCKED
    return str(template) % facts


def render_events(events: Iterable[AuditEvent]) -> list[RenderedEvent]:
    """Render a page of events (with ``actor`` and ``person`` selected) in the active language."""
    events = list(events)
    catalogue = _Catalogue(events)
    role_field = _model_field("delegation", "RoleAssignment", "role")
    rendered = []
    for ev in events:
        if ev.params and ev.action in Action.values:
            sentence = _sentence(ev, _facts(ev, catalogue, role_field))
        else:
            sentence = _legacy_sentence(ev)
        rendered.append(RenderedEvent(event=ev, sentence=sentence, changes=_changes(ev), reason=_reason(ev)))
    return rendered
