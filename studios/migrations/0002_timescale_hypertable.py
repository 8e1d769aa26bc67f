from django.db import migrations


def forwards(apps, schema_editor):
    from studios.timescale import make_metrics_hypertable

    make_metrics_hypertable(schema_editor.connection)


class Migration(migrations.Migration):
    # The extension's DDL cannot run inside the migration's transaction.
    atomic = False

    dependencies = [("studios", "0001_initial")]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)
    ]
