"""Username-and-password login (assurance level 200): failed and throttled attempts in the audit trail,
temporary first passwords that must be changed at first login.

The login itself, its throttling (``ACCOUNT_RATE_LIMITS["login_failed"]``) and the password change
page are django-allauth's; ``AccountAdapter`` calls into this module from allauth's hooks.
"""

from __future__ import annotations

import secrets
from typing import Any

from allauth.account.signals import password_reset
from allauth.account.utils import filter_users_by_email, filter_users_by_username
from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from toegang.accounts.models import Activation, User
from toegang.audit.actions import Action
from toegang.audit.models import AuditEvent
from toegang.audit.services import audit_record
from toegang.delegation import authz
from toegang.delegation.models import RoleAssignment

# Unambiguous letters and digits (no 0/O, 1/l/I): a temporary password is read off a screen and typed.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP_LENGTH = 4, 5  # 23 characters with the dashes, about 99 bits

SAME_AS_TEMPORARY = _("Choose a password of your own, not the temporary one you were given.")


def user_for_credentials(credentials: dict[str, Any]) -> User | None:
    """The one account the login names, or None.

    allauth passes a login that looks like an e-mail address both as ``email`` and as ``username``
    (a username may look like an address); the username wins, as in allauth's backend.
    """
    users: list[User] = []
    if credentials.get("username"):
        users = list(filter_users_by_username(credentials["username"])[:2])
    if not users and credentials.get("email"):
        users = list({u.pk: u for u in filter_users_by_email(credentials["email"])}.values())[:2]
    return users[0] if len(users) == 1 else None


def login_name(credentials: dict[str, Any]) -> str:
    return str(credentials.get("username") or credentials.get("email") or "").strip().lower()


def account_key(credentials: dict[str, Any]) -> str:
    """The account the login names, however it is named: ``account:<pk>``, or ``name:<name>``.

    A person named by username or by e-mail address counts against one limit. An unknown name counts
    against a limit of its own, so it is throttled exactly as an account would be and the answer
    does not tell whether the account exists.
    """
    user = user_for_credentials(credentials)
    return f"account:{user.pk}" if user is not None else f"name:{login_name(credentials)}"


def throttle_key(request: HttpRequest, credentials: dict[str, Any]) -> str:
    """The key of allauth's per-key "login_failed" limit: the account from one client address.

    Five wrong passwords lock the account for the address they came from, not for its owner
    elsewhere (issue 12: a lockout is a denial of service). The account's limit over every address
    is ``LOGIN_FAILED_ACCOUNT_LIMITS`` (``account_limit_consume``).
    """
    return f"{account_key(credentials)}@{ratelimit.get_ip(request)}"


def _account_config() -> dict[str, str]:
    return {"login_failed": str(settings.LOGIN_FAILED_ACCOUNT_LIMITS or "")}


def account_limit_consume(request: HttpRequest, credentials: dict[str, Any]) -> ratelimit.RateLimitUsage | None:
    """One attempt against the account's limit over every address; None when that limit is full."""
    return ratelimit.consume(
        request, app="allauth.account", action="login_failed", config=_account_config(), key=account_key(credentials)
    )


def login_limits_clear(request: HttpRequest, user: User) -> None:
    """Open a locked password login: the account's own limits, after a password reset by mail.

    The owner proved control of the mailbox, so the failures others made no longer count: the
    account's limit over every address and its limit from the owner's address are emptied. Other
    addresses stay locked (the attacker's, most likely), and so does the limit per address alone.
    """
    per_key = ",".join(p for p in _parts(settings.ACCOUNT_RATE_LIMITS) if p.endswith("/key"))
    key = f"account:{user.pk}"
    ratelimit.clear(
        request,
        app="allauth.account",
        action="login_failed",
        config={"login_failed": per_key},
        key=f"{key}@{ratelimit.get_ip(request)}",
    )
    ratelimit.clear(request, app="allauth.account", action="login_failed", config=_account_config(), key=key)


def limits_reached(request: HttpRequest, credentials: dict[str, Any]) -> str:
    """Which of the "login_failed" limits are full, for the audit event.

    "10/m/ip full" (the client address), "5/15m/account@ip full" (the account from that address),
    "100/d/account full" (the account from every address). Events written before the limit per
    account and address name the account's limit "5/15m/key full".
    """
    checks = [
        (p, throttle_key(request, credentials), "account@ip" if p.endswith("/key") else "")
        for p in _parts(settings.ACCOUNT_RATE_LIMITS)
    ]
    checks += [(p, account_key(credentials), "account") for p in _parts(_account_config())]
    full = []
    for part, key, scope in checks:
        usage = ratelimit.consume(
            request,
            app="allauth.account",
            action="login_failed",
            config={"login_failed": part},
            key=key,
            dry_run=True,
        )
        if usage is None:
            full.append(f"{part.rsplit('/', 1)[0]}/{scope} full" if scope else f"{part} full")
    return "; ".join(full) or "rate limit"


def _parts(config: dict[str, str]) -> list[str]:
    return [p.strip() for p in str(config.get("login_failed") or "").split(",") if p.strip()]


def audit_login_event(action: Action, credentials: dict[str, Any], *, reason: str = "") -> AuditEvent:
    """One audit event for a password login that did not succeed; without enterprise.

    For a known account the account is the object; for an unknown name the event keeps the name as
    typed (it is what an investigator searches for), with object type ``login`` and no object id.
    """
    user = user_for_credentials(credentials)
    with transaction.atomic():
        if user is not None:
            return audit_record(actor=None, action=action, obj=user, reason=reason)
        name = login_name(credentials)
        return audit_record(
            actor=None,
            action=action,
            object_type="login",
            object_repr=name,
            params={"login_name": name[:300]},
            reason=reason,
        )


def chosen_password_check(person: User, password: str, password_again: str) -> None:
    """A password the person chooses (activation, taking an account over): typed twice, and the policy's.

    Raises ValidationError keyed by the two fields of the forms that ask for it.
    """
    if password != password_again:
        raise ValidationError({"password2": _("You must type the same password each time.")})
    try:
        validate_password(password, person)
    except ValidationError as exc:
        raise ValidationError({"password1": exc.messages}) from exc


def temporary_password_generate() -> str:
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LENGTH)) for _ in range(_GROUPS))
    return "-".join(groups)


def temporary_password_set(*, actor: User | None, person: User) -> str:
    """Give the person a new random password that they must change at their next login.

    ``actor`` None is the operator at the command line (``manage.py set_temporary_password``).
    Otherwise the actor is an operator, or a manager who may end every role the person holds (so
    nobody takes over an account that has rights outside the actor's reach, nor a manager's at the
    actor's own level or above). Returns the password, which is stored only hashed: show it once.
    """
    if actor is not None and not authz.may_set_temporary_password(actor, person):
        raise PermissionDenied
    password = temporary_password_generate()
    while True:
        try:
            validate_password(password, person)
            break
        except ValidationError:  # a draw that a validator refuses (vanishingly rare): draw again
            password = temporary_password_generate()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=person.pk)
        before = {"activation": locked.activation}
        locked.set_password(password)
        locked.must_change_password = True
        # A password a manager knew is the manager's channel as much as the person's: the account
        # keeps the roles it holds now (the actor may end every one of them), and any later role
        # needs its own activation link or a login that proves the INSZ (docs/security.md).
        if actor is not None:
            RoleAssignment.objects.active().filter(person=locked, confirmed_at__isnull=True).update(
                confirmed_at=timezone.now()
            )
            locked.activation = Activation.APPOINTMENT
            locked.activated_at = locked.activated_at or timezone.now()
        locked.save(update_fields=["password", "must_change_password", "activation", "activated_at"])
        audit_record(
            actor=actor,
            action=Action.PERSON_TEMPORARY_PASSWORD,
            obj=locked,
            before=before,
            after={"must_change_password": True, "activation": locked.activation},
        )
    person.password, person.must_change_password = locked.password, True
    person.activation, person.activated_at = locked.activation, locked.activated_at
    return password


def password_changed_by_person(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """allauth's ``password_changed`` and ``password_reset``: the person chose their own password.

    After a reset by mail the person's password login opens again (``login_limits_clear``).
    """
    if kwargs.get("signal") is password_reset:
        login_limits_clear(request, user)
    with transaction.atomic():
        cleared = User.objects.filter(pk=user.pk, must_change_password=True).update(must_change_password=False)
        audit_record(
            actor=user,
            action=Action.PERSON_PASSWORD_CHANGE,
            obj=user,
            before={"must_change_password": True} if cleared else None,
            after={"must_change_password": False} if cleared else None,
        )
    user.must_change_password = False
