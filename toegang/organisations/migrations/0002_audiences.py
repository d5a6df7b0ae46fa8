"""The three audiences are the system's own fixed list (docs/architecture.md, "Audiences"); constants are
copied here."""

from django.db import migrations

AUDIENCES = [
    ("employer", "Werkgever", "Employeur", "Arbeitgeber", "Employer"),
    (
        "social_security_professional",
        "Professional van de sociale zekerheid",
        "Professionnel de la sécurité sociale",
        "Fachkraft der sozialen Sicherheit",
        "Social security professional",
    ),
    (
        "healthcare_actor",
        "Actor in de gezondheidszorg",
        "Acteur des soins de santé",
        "Akteur im Gesundheitswesen",
        "Healthcare actor",
    ),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    Audience = apps.get_model("organisations", "Audience")
    for code, nl, fr, de, en in AUDIENCES:
        Audience.objects.update_or_create(
            code=code, defaults={"name_nl": nl, "name_fr": fr, "name_de": de, "name_en": en}
        )


class Migration(migrations.Migration):
    dependencies = [("organisations", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
