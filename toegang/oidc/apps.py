from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OidcConfig(AppConfig):
    name = "toegang.oidc"
    label = "oidc"
    verbose_name = _("OpenID Connect")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from toegang.oidc.backchannel import on_user_logged_out

        user_logged_out.connect(on_user_logged_out, dispatch_uid="toegang.oidc.backchannel")
