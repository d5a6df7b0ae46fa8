from __future__ import annotations

from typing import Any, NoReturn

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from toegang.accounts import passwords
from toegang.accounts.models import User
from toegang.audit.actions import Action
from toegang.audit.services import audit_record
from toegang.identifiers import ssin_clean
from toegang.lengths import column_limit
from toegang.mail.links import absolute_url, mail_links, mail_site
from toegang.mail.models import OutgoingMail
from toegang.mail.services import mail_enqueue

# One answer for every identity toegang cannot let in (unknown INSZ, malformed INSZ, inactive
# person, an identity linked to someone else): the answer must not tell whether an account exists.
EXTERNAL_NOT_KNOWN = _(
    "You cannot log in to toegang with this identity. If you need access, ask your access manager to "
    "appoint you with your national register number (INSZ)."
)
# Only says what the provider sent, nothing about accounts.
EXTERNAL_NO_SSIN = _(
    "The external login service did not send your national register number (INSZ), so toegang cannot "
    "tell who you are. Allow it to share your national register number, or log in another way."
)
EXTERNAL_FAILED = _("The login with the external service did not succeed. Try again, or log in another way.")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts exist because someone was appointed or registered; nobody signs up.
        return False

    # Password login (toegang/accounts/passwords.py): failures throttled per address, per account from
    # one address (allauth's "login_failed" rate limit) and per account from all addresses
    # (LOGIN_FAILED_ACCOUNT_LIMITS), each failure and each refusal audited.
    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        return passwords.throttle_key(request, credentials)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
            account = passwords.account_limit_consume(request, credentials)
            if account is None:
                raise self.validation_error("too_many_login_attempts")
            # A successful login gives back all of its attempt (allauth's rollback), this one too.
            self._login_failed_rl_usage.usage.extend(account.usage)
        except ValidationError:
            passwords.audit_login_event(
                Action.LOGIN_PASSWORD_LOCKED, credentials, reason=passwords.limits_reached(request, credentials)
            )
            raise

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        passwords.audit_login_event(Action.LOGIN_PASSWORD_FAILED, credentials)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # allauth renders its message (password reset and the like) as it would send it; it goes to
        # the outbox instead, so an SMTP failure never turns the request into an error (toegang/mail).
        # Its links and its site are TOEGANG_BASE_URL's, never the Host header's (toegang/mail/links.py).
        request = allauth_context.request
        ctx = {"request": request, "email": email, **mail_links(context), "current_site": mail_site()}
        message = self.render_mail(template_prefix, email, ctx)
        html = next(
            (content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), ""
        )
        with transaction.atomic():
            for to in message.to:
                if len(to) > column_limit(OutgoingMail, "to"):
                    # Longer than any address can be (RFC 5321) or any account holds (a password reset
                    # for an address typed that long): nothing to send, and the page answers as for
                    # any unknown address.
                    continue
                mail_enqueue(to=to, subject=str(message.subject), body=str(message.body), html=str(html))

    def get_reset_password_from_key_url(self, key: str) -> str:
        return absolute_url(super().get_reset_password_from_key_url(key))

    def get_email_confirmation_url(self, request: HttpRequest, emailconfirmation: Any) -> str:
        return absolute_url(super().get_email_confirmation_url(request, emailconfirmation))

    def clean_password(self, password: str, user: Any = None) -> str:
        if getattr(user, "must_change_password", False) and user.check_password(password):
            raise ValidationError(passwords.SAME_AS_TEMPORARY)
        return str(super().clean_password(password, user))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # An external identity only logs in a person already known by INSZ; it never creates one.
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Link the external identity to the person its INSZ claim names, or refuse the login.

        allauth has already looked the identity up by (provider, sub). A new identity is connected to
        the person with that INSZ; a known one must still carry its person's INSZ, so a provider
        that re-assigns a subject cannot move a login to somebody else.
        """
        account = sociallogin.account
        process = sociallogin.state.get("process") or AuthProcess.LOGIN
        raw = _ssin_claim(account.extra_data, settings.OIDC_SSIN_CLAIM)
        if raw is None:
            self._refuse(request, sociallogin, reason="no_ssin_claim", message=EXTERNAL_NO_SSIN)
        try:
            ssin = ssin_clean(raw)
        except ValidationError:
            self._refuse(request, sociallogin, reason="malformed_ssin", detail={"claim": raw[:40]})
        if process == AuthProcess.CONNECT:
            # Connecting from the person's own account page: only their own identity.
            if not (request.user.is_authenticated and getattr(request.user, "ssin", None) == ssin):
                self._refuse(request, sociallogin, reason="connect_other_ssin")
            return
        if sociallogin.is_existing:
            user = sociallogin.user
            if user.ssin != ssin:
                self._refuse(request, sociallogin, reason="linked_to_other_ssin", user=user)
            if not user.is_active:
                self._refuse(request, sociallogin, reason="inactive", user=user)
            self._audit(user, Action.LOGIN_EXTERNAL_ACCEPTED, sociallogin)
            return
        person = User.objects.filter(ssin=ssin, is_active=True).first()
        if person is None:
            self._refuse(request, sociallogin, reason="unknown_ssin", detail={"ssin": ssin})
        with transaction.atomic():
            sociallogin.connect(request, person)
            self._audit(person, Action.LOGIN_EXTERNAL_LINKED, sociallogin)
        self._audit(person, Action.LOGIN_EXTERNAL_ACCEPTED, sociallogin)

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: str | None = None,
        exception: Exception | None = None,
        extra_context: dict[str, Any] | None = None,
    ) -> None:
        # The provider refused, the person cancelled, or the answer did not verify (state, PKCE,
        # signature): back to the login page with a message instead of allauth's bare error page.
        _login_event(
            action=Action.LOGIN_EXTERNAL_REFUSED,
            person=None,
            actor=None,
            reason=str(error or "error"),
            after={"provider": getattr(provider, "id", ""), "exception": type(exception).__name__ if exception else ""},
        )
        messages.error(request, EXTERNAL_FAILED)
        raise ImmediateHttpResponse(HttpResponseRedirect(reverse("account_login")))

    def _refuse(
        self,
        request: HttpRequest,
        sociallogin: SocialLogin,
        *,
        reason: str,
        message: Any = EXTERNAL_NOT_KNOWN,
        user: User | None = None,
        detail: dict[str, Any] | None = None,
    ) -> NoReturn:
        # Nothing is saved for a refused identity: sociallogin.connect() is never reached.
        account = sociallogin.account
        _login_event(
            action=Action.LOGIN_EXTERNAL_REFUSED,
            person=user,
            actor=None,
            reason=reason,
            after={"provider": account.provider, "uid": account.uid, **(detail or {})},
        )
        messages.error(request, message)
        raise ImmediateHttpResponse(HttpResponseRedirect(reverse("account_login")))

    def _audit(self, user: User, action: Action, sociallogin: SocialLogin) -> None:
        account = sociallogin.account
        _login_event(
            action=action, person=user, actor=user, reason="", after={"provider": account.provider, "uid": account.uid}
        )


def _ssin_claim(extra_data: dict[str, Any], claim: str) -> str | None:
    # allauth keeps the verified ID token's claims and the userinfo answer side by side; itsme and
    # the federal login may put the national number in either.
    for source in ("userinfo", "id_token"):
        value = (extra_data.get(source) or {}).get(claim)
        if value not in (None, ""):
            return str(value)
    return None


def _login_event(
    *, action: Action, person: User | None, actor: User | None, reason: str, after: dict[str, Any]
) -> None:
    with transaction.atomic():
        if person is not None:
            audit_record(actor=actor, action=action, obj=person, after=after, reason=reason)
            return
        # No person to name: the event stands alone, as an attempt.
        audit_record(
            actor=None,
            action=action,
            object_type="login",
            params={"provider": str(after.get("provider") or "")},
            after=after,
            reason=reason,
        )
