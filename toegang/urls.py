from allauth.account.decorators import secure_admin_login
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from toegang import health
from toegang.accounts import views as account_views
from toegang.api.api import api
from toegang.oidc import urls as oidc_urls
from toegang.portal.views import errors

# The admin's own login form would be a second password login without allauth's throttling, audit
# and second factors: send it to allauth's.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

# Translated, in the portal's layout (toegang/portal/views/errors.py).
handler403 = errors.forbidden
handler404 = errors.not_found
handler500 = errors.server_error

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # OpenID Connect provider: outside the language prefix, as clients have fixed URLs.
    path("oauth/", include(oidc_urls)),
    *oidc_urls.root_urlpatterns,
    # Not under i18n_patterns: relying parties call one stable URL; names follow Accept-Language.
    path("api/", api.urls),
]
urlpatterns += i18n_patterns(
    path("accounts/eid/", account_views.eid_login, name="account_eid_login"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("", include("toegang.portal.urls")),
)
