import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    # The prediction log becomes partitioned by month on PostgreSQL (forecasting
    # 0009), and no foreign key can reference a partitioned table's id alone: the
    # constraint goes first. Reversed after forecasting 0009 is, when the log is a
    # plain table again.
    dependencies = [
        ("forecasting", "0008_batch_chunk_skipped_studios_cpu_seconds"),
        ("scenarios", "0003_scenario_idempotency_key"),
    ]
    run_before = [("forecasting", "0009_predictionlog_partitioned_by_month")]

    operations = [
        migrations.AlterField(
            model_name="scenario",
            name="prediction_log",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="scenarios",
                to="forecasting.predictionlog",
            ),
        ),
    ]
