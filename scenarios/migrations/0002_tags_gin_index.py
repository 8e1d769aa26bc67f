from django.db import migrations

INDEX = "scenario_tags_gin_idx"


def create_gin_index(apps, schema_editor):
    # JSON containment (tags @> '["x"]') is PostgreSQL-only, and so is the index
    # that serves it; SQLite filters tags without an index.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON scenarios_scenario "
            "USING GIN (tags jsonb_path_ops)"
        )


def drop_gin_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("scenarios", "0001_initial")]

    operations = [migrations.RunPython(create_gin_index, drop_gin_index)]
