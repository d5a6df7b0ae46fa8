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

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers
from django.utils.http import http_date
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


# What a view or decorator may set on a response to change its policy (django-csp's decorators).
_PER_RESPONSE_POLICY = tuple(
    f"_csp_{kind}{suffix}" for kind in ("config", "update", "replace", "exempt") for suffix in ("", "_ro")
)
# The headers of the usual case (no nonce asked, no per-response policy, not the login flow's forms),
# built once per process from settings.CONTENT_SECURITY_POLICY(_REPORT_ONLY); forgotten when a test
# overrides a setting. Building them cost about a tenth of an authorization-API check (django-csp's
# build_policy twice a response; bench/authz_api.py).
_constant_headers: list[tuple[str, str]] | None = None
_POLICY_SETTINGS = ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")


@receiver(setting_changed, dispatch_uid="csp_constant_headers")
def _forget_constant_headers(**kwargs: object) -> None:
    global _constant_headers
    _constant_headers = None


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _PER_RESPONSE_POLICY)
            or (_is_html(response) and _LOGIN_FLOW.match(request.path_info))
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        global _constant_headers
        if _constant_headers is None:
            # django-csp's own answer for a response without anything of its own: the constant one.
            probe = super().process_response(request, HttpResponseBase())
            _constant_headers = [(name, probe[name]) for name in (HEADER, HEADER_REPORT_ONLY) if name in probe]
            policies = (getattr(settings, name, None) or {} for name in _POLICY_SETTINGS)
            if any(policy.get("EXCLUDE_URL_PREFIXES") for policy in policies):
                _constant_headers = None  # then the headers depend on the path: always django-csp's way
                return super().process_response(request, response)
        for name, value in _constant_headers:
            if name not in response:
                response[name] = value
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

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
            _never_cache(response)
        return response


_NEVER_CACHE: str | None = None


def _never_cache(response: HttpResponseBase) -> None:
    """``add_never_cache_headers``: on a response without caching headers (the usual case) the same
    two headers, the Cache-Control value built once (patching it cost a twentieth of an API check)."""
    global _NEVER_CACHE
    if "Cache-Control" in response or "Expires" in response:
        add_never_cache_headers(response)
        return
    if _NEVER_CACHE is None:
        probe = HttpResponseBase()
        add_never_cache_headers(probe)
        _NEVER_CACHE = probe["Cache-Control"]
    response["Expires"] = http_date()
    response["Cache-Control"] = _NEVER_CACHE
