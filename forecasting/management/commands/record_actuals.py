"""manage.py record_actuals: store actual outcomes and errors on prediction logs."""

from django.core.management.base import BaseCommand

from forecasting.accuracy import prediction_actuals_record
from forecasting.selectors import model_performance, model_version_active


class Command(BaseCommand):
    help = "Fill in prediction logs' actual outcomes and errors from the monthly data."

    def handle(self, *args, **options) -> None:
        self.stdout.write("Comparing prediction logs with the months that arrived...")
        changed = prediction_actuals_record(progress=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(f"{changed} prediction log(s) got new actual outcomes.")
        )
        version = model_version_active()
        if version is None:
            return
        live = model_performance(version=version)
        if not live.total_predictions:
            self.stdout.write(
                f"{version.version}: no prediction with an actual outcome yet."
            )
            return
        self.stdout.write(
            f"{version.version}: {live.total_predictions} prediction(s) with actual "
            f"outcomes, mean error {live.mean_error_pct:.2%}; within 5%: "
            f"{live.within_5_pct:.1%}, within 10%: {live.within_10_pct:.1%}, "
            f"over 10%: {live.over_10_pct:.1%}."
        )
