"""The eID login endpoint: the one URL nginx asks a client certificate for (docs/eid.md)."""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import perform_login, record_authentication
from allauth.account.models import Login
from allauth.account.utils import get_next_redirect_url
from allauth.mfa.stages import AuthenticateStage
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from toegang.accounts.eid import (
    EidError,
    eid_authenticate,
    eid_config,
    eid_login_audit_failure,
    eid_login_audit_success,
)


# A GET logs in, as the certificate login of CSAM does: the browser arrives here from the login
# page's link and the TLS handshake asks for the card. This is no login-CSRF risk: a certificate only
# ever logs in its own holder, whose card and PIN the request needed.
@require_safe
def eid_login(request: HttpRequest) -> HttpResponse:
    next_url = get_next_redirect_url(request)
    try:
        identity = eid_authenticate(meta=request.META, config=eid_config(), now=timezone.now())
    except EidError as error:
        eid_login_audit_failure(error=error)
        # Back to the login page, where the message stands beside the other ways to log in.
        messages.error(request, error.message)
        login_url = reverse("account_login")
        return HttpResponseRedirect(f"{login_url}?{urlencode({'next': next_url})}" if next_url else login_url)
    user = identity.user
    if request.user.is_authenticated and request.user.pk != user.pk:
        # Another person's session: Django's login() would flush it, and the eID record with it.
        get_adapter(request).logout(request)
    eid_login_audit_success(identity=identity)
    record_authentication(
        request, user, method="eid", serial=identity.certificate.serial, issuer=identity.certificate.issuer
    )
    # The eID is two factors by itself (the card and its PIN, level 500): allauth's second-factor
    # stage, which would ask a person with an authenticator app for its code as well, is skipped.
    login = Login(
        user=user,
        redirect_url=next_url,
        state={"stages": {AuthenticateStage.key: {"handled": True}}},
    )
    response: HttpResponse = perform_login(request, login)
    return response
