from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "forecasting"
    verbose_name = "Forecasting and model registry"

    def ready(self) -> None:
        from forecasting.accuracy import prediction_actuals_record
        from studios.signals import metrics_imported

        def record_actuals(sender, *, studio_ids, **kwargs) -> None:
            prediction_actuals_record(studio_ids=studio_ids)

        metrics_imported.connect(
            record_actuals, weak=False, dispatch_uid="forecasting.record_actuals"
        )
