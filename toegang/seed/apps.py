from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SeedConfig(AppConfig):
    """Demo and scale data: the top layer, which may import every app (and nothing imports it)."""

    name = "toegang.seed"
    label = "seed"
    verbose_name = _("Demo and scale data")
