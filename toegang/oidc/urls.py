"""django-oauth-toolkit's endpoints under /oauth/ (namespace ``oauth2_provider``), with toegang's
authorization view; discovery and JWKS also at the root, where the issuer (TOEGANG_BASE_URL) says
clients find them. No application-management or dynamic-registration views: the operator
registers clients (admin, ``manage.py oidc_client``)."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from toegang.oidc.authorization_requests import PushedAuthorizationRequestView
from toegang.oidc.step_up_views import step_up
from toegang.oidc.token_views import JwksInfoView
from toegang.oidc.views import (
    AuthorizationView,
    ConnectDiscoveryInfoView,
    IntrospectTokenView,
    RevokeTokenView,
    RPInitiatedLogoutView,
    TokenView,
    UserInfoView,
)

app_name = "oauth2_provider"

urlpatterns: list[URLPattern] = [
    path("authorize/", AuthorizationView.as_view(), name="authorize"),
    path("par/", PushedAuthorizationRequestView.as_view(), name="pushed-authorization-request"),
    path("step-up/", step_up, name="step-up"),
    path("token/", TokenView.as_view(), name="token"),
    path("revoke_token/", RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", IntrospectTokenView.as_view(), name="introspect"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", UserInfoView.as_view(), name="user-info"),
    path("logout/", RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
]

# At the site root: <issuer>/.well-known/openid-configuration (OpenID Connect Discovery 1.0 §4)
# and the key set beside it.
root_urlpatterns: list[URLPattern] = [
    path(".well-known/openid-configuration", ConnectDiscoveryInfoView.as_view()),
    path(".well-known/jwks.json", JwksInfoView.as_view()),
]
