from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DelegationConfig(AppConfig):
    name = "toegang.delegation"
    label = "delegation"
    verbose_name = _("Delegation")

    def ready(self) -> None:
        # The person's name, INSZ … are copied onto their role assignments (the users list reads no
        # person); accounts, below delegation, announces a change and delegation rewrites the copies.
        from toegang.accounts.models import person_copied_fields_changed
        from toegang.delegation.models import person_copies_update

        def rewrite_copies(sender: Any, person: Any, **kwargs: Any) -> None:
            person_copies_update(person)

        person_copied_fields_changed.connect(
            rewrite_copies, weak=False, dispatch_uid="toegang.delegation.person_copies"
        )
