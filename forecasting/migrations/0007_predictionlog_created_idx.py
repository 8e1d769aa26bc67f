from django.db import migrations, models

INDEX = models.Index(fields=["created_at"], name="predlog_created_idx")


def create_index(apps, schema_editor):
    # Every served prediction inserts a log row: on PostgreSQL the index is built
    # CONCURRENTLY so a large log keeps taking writes while it is built.
    model = apps.get_model("forecasting", "PredictionLog")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} "
            f"ON {model._meta.db_table} (created_at)"
        )
    else:
        schema_editor.add_index(model, INDEX)


def drop_index(apps, schema_editor):
    model = apps.get_model("forecasting", "PredictionLog")
    schema_editor.remove_index(model, INDEX)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("forecasting", "0006_modelversion_updated_at")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex("predictionlog", INDEX)],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        )
    ]
