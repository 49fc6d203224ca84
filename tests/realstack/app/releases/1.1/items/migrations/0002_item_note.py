from django.db import migrations, models


def annotate(apps, schema_editor):
    apps.get_model("items", "Item").objects.update(note="added in 1.1")


class Migration(migrations.Migration):
    dependencies = [("items", "0001_initial")]
    operations = [
        migrations.AddField("item", "note", models.CharField(max_length=200, default="")),
        migrations.RunPython(annotate, migrations.RunPython.noop),
    ]
