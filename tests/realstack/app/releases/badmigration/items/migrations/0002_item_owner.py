from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("items", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE items_item ADD COLUMN owner_id integer REFERENCES shop_owner(id)"
        ),
    ]
