from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "toegang.api"
    label = "api"
    verbose_name = _("Authorization API")

    def ready(self) -> None:
        # The token cache's receivers (revocation, a changed client or relying party).
        from toegang.api import auth  # noqa: F401
