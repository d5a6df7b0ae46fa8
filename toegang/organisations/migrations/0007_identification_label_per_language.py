"""The label of a quality's identification code in each language (issue 13: "RIZIV-nummer" was shown
untranslated on the French and German pages). The existing label becomes the Dutch one; the RIZIV
number's label, the demo's and the catalogue's usual one, gets its French, German and English names."""

from typing import Any

from django.db import migrations, models

# The Dutch label -> its French, German and English (docs/glossary.md).
KNOWN_LABELS = {
    "RIZIV-nummer": ("Numéro INAMI", "LIKIV-Nummer", "NIHII number"),
    "Identificatiecode": ("Code d'identification", "Identifikationscode", "Identification code"),
}


def label_translations(apps: Any, schema_editor: Any) -> None:
    Quality = apps.get_model("organisations", "Quality")
    for quality in Quality.objects.filter(identification_label_nl__in=KNOWN_LABELS):
        fr, de, en = KNOWN_LABELS[quality.identification_label_nl]
        quality.identification_label_fr = quality.identification_label_fr or fr
        quality.identification_label_de = quality.identification_label_de or de
        quality.identification_label_en = quality.identification_label_en or en
        quality.save(update_fields=["identification_label_fr", "identification_label_de", "identification_label_en"])


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0006_certificate_unique_per_subdepartment"),
    ]

    operations = [
        migrations.RenameField("quality", "identification_label", "identification_label_nl"),
        migrations.AlterField(
            model_name="quality",
            name="identification_label_nl",
            field=models.CharField(
                default="Identificatiecode", max_length=60, verbose_name="label of the identification code (Dutch)"
            ),
        ),
        migrations.AddField(
            model_name="quality",
            name="identification_label_fr",
            field=models.CharField(
                blank=True, max_length=60, verbose_name="label of the identification code (French)"
            ),
        ),
        migrations.AddField(
            model_name="quality",
            name="identification_label_de",
            field=models.CharField(
                blank=True, max_length=60, verbose_name="label of the identification code (German)"
            ),
        ),
        migrations.AddField(
            model_name="quality",
            name="identification_label_en",
            field=models.CharField(
                blank=True, max_length=60, verbose_name="label of the identification code (English)"
            ),
        ),
        migrations.RunPython(label_translations, migrations.RunPython.noop),
    ]
