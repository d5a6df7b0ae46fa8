from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "toegang.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from toegang.accounts import checks  # noqa: F401  (registers the start-up checks)
        from toegang.accounts.sessions import remember_login_time

        user_logged_in.connect(remember_login_time, dispatch_uid="toegang_login_time")

        from allauth.account.signals import password_changed, password_reset

        from toegang.accounts.passwords import password_changed_by_person

        # A temporary password is cleared once the person chose their own, by change or by reset mail.
        password_changed.connect(password_changed_by_person, dispatch_uid="toegang_password_changed")
        password_reset.connect(password_changed_by_person, dispatch_uid="toegang_password_reset")
