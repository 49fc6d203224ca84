from django.db import migrations, models


def seed(apps, schema_editor):
    Item = apps.get_model("items", "Item")
    Item.objects.bulk_create([Item(name="first"), Item(name="second")])


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
