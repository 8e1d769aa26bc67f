from django.db import migrations

# Partitions created by the migration beyond the current month; afterwards
# manage.py prune_prediction_logs keeps PREDICTION_LOG_PARTITIONS_AHEAD ahead.
MONTHS_AHEAD = 3


def partition(apps, schema_editor):
    from forecasting.partitions import partition_table

    partition_table(schema_editor.connection, months_ahead=MONTHS_AHEAD)


def unpartition(apps, schema_editor):
    from forecasting.partitions import unpartition_table

    unpartition_table(schema_editor.connection)


class Migration(migrations.Migration):
    """On PostgreSQL, the prediction log becomes range-partitioned by month on
    created_at (rows, indexes and constraints kept; primary key (id, created_at)).
    Elsewhere nothing changes. Reversible: the reverse copies every row back into
    one plain table. Neither changes the model: Django keeps id as the primary key.
    """

    dependencies = [("forecasting", "0008_batch_chunk_skipped_studios_cpu_seconds")]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
