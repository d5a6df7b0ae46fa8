"""Response headers that keep pages and personal data where they belong (issue 12, F12).

``ContentSecurityPolicyMiddleware``: django-csp's middleware with the policy of
settings.CONTENT_SECURITY_POLICY (only toegang's own scripts, styles and images, no plugins, no
framing, forms only to toegang). One addition per response: the forms of the login flow (login,
second factor, step-up, re-authentication, the external provider's button, the OAuth pages) lead
through redirects to a relying party's redirect URI or to the external provider, and browsers apply
``form-action`` to every redirect after a form is sent; on those pages the policy allows the origins
of the registered redirect URIs and of TOEGANG_OIDC_PROVIDER_URL as well.

``NoStoreMiddleware``: ``Cache-Control: no-store`` (Django's never-cache headers) on every answer to
a logged-in person and on every answer of the authorization API and the OAuth endpoints, so no
browser or proxy cache keeps a users list, an export, a person's page or an INSZ.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers
from oauth2_provider.models import get_application_model

# Pages whose forms may end, through redirects, at a relying party or at the external provider.
_LOGIN_FLOW = re.compile(r"^/(?:[a-z]{2}/)?(?:accounts|step-up|oauth)/")
# Answers that hold personal data whoever asks: the authorization API, the OAuth/OIDC endpoints
# (not the public discovery document and key set, which relying parties may cache).
_ALWAYS_NO_STORE = re.compile(r"^/(?:api/|oauth/(?!\.well-known/))")


def _origin(uri: str) -> str | None:
    bits = urlsplit(uri.strip())
    if bits.scheme not in {"http", "https"} or not bits.netloc:
        return None
    return f"{bits.scheme}://{bits.netloc}"


def login_flow_form_targets() -> list[str]:
    """The origins a login-flow form may end at: relying parties' redirect URIs, the external provider."""
    origins: list[str] = []
    rows = get_application_model().objects.values_list("redirect_uris", "post_logout_redirect_uris")
    uris = [uri for row in rows for field in row for uri in (field or "").split()]
    if settings.OIDC_PROVIDER_URL:
        uris.append(settings.OIDC_PROVIDER_URL)
    for uri in uris:
        origin = _origin(uri)
        if origin and origin not in origins:
            origins.append(origin)
    return sorted(origins)


def _is_html(response: HttpResponseBase) -> bool:
    return str(response.get("Content-Type", "")).startswith("text/html")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if _is_html(response) and _LOGIN_FLOW.match(request.path_info):
            targets = login_flow_form_targets()
            if targets:
                parts.update = {**(parts.update or {}), "form-action": targets}
        return parts


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if "no-store" in {part.strip() for part in str(response.get("Cache-Control", "")).split(",")}:
            return response  # already (the token endpoint's own "no-store", RFC 6749 5.1)
        if (
            _ALWAYS_NO_STORE.match(request.path_info)
            or "HTTP_AUTHORIZATION" in request.META
            or (user is not None and user.is_authenticated)
        ):
            add_never_cache_headers(response)
        return response
