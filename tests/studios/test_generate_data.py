"""generate_data: bulk load, CSV export that round-trips through the importer."""

import pytest
from django.core.management import CommandError, call_command

from studios.generator import generate
from studios.importing import generated_metrics_csv_frame
from studios.models import ClassType, MemberCohort, MonthlyMetric, Studio
from studios.services import generated_data_load, metrics_import

pytestmark = pytest.mark.django_db

COMPARED = [
    f.name
    for f in MonthlyMetric._meta.fields
    if f.name not in {"id", "studio", "created_at", "updated_at"}
]


def _rows() -> list[tuple]:
    return sorted(
        MonthlyMetric.objects.values_list("studio__name", *COMPARED),
        key=lambda r: (r[0], r[1]),
    )


@pytest.mark.smoke
def test_command_loads_every_table_and_reports_progress(capsys):
    call_command("generate_data", studios=3, months=24, seed=5)

    out = capsys.readouterr().out
    assert Studio.objects.count() == 3
    assert MonthlyMetric.objects.count() == 72
    assert ClassType.objects.filter(studio__isnull=False).count() >= 3 * 4
    assert MemberCohort.objects.count() == 72
    assert "monthly metrics: 72/72" in out
    assert "Loaded 3 studios" in out


def test_loaded_rows_keep_the_generators_splits_and_truth():
    data = generate(n_studios=2, months=24, seed=3)

    generated_data_load(data=data)

    metric = MonthlyMetric.objects.order_by("studio__name", "month_year").last()
    assert metric.split == "test"
    assert set(metric.expected_values) >= {
        "total_revenue",
        "total_members",
        "new_members",
    }
    assert MonthlyMetric.objects.filter(is_outlier=True).count() >= 2 * 2


def test_name_clash_without_replace_is_refused_and_replace_starts_afresh():
    call_command("generate_data", studios=2, months=24, seed=1)

    with pytest.raises(CommandError, match="--replace"):
        call_command("generate_data", studios=2, months=24, seed=1)
    call_command(
        "generate_data", studios=3, months=24, seed=2, replace=True, no_input=True
    )

    assert Studio.objects.count() == 3


def test_same_seed_loads_the_same_data():
    call_command("generate_data", studios=2, months=24, seed=9)
    first = _rows()
    call_command(
        "generate_data", studios=2, months=24, seed=9, replace=True, no_input=True
    )

    assert _rows() == first


def test_generate_csv_import_round_trip_gives_the_same_rows(tmp_path):
    """Generated data written as CSV and imported equals the bulk-loaded data."""
    data = generate(n_studios=3, months=24, seed=11)
    path = tmp_path / "generated.csv"
    generated_metrics_csv_frame(data).to_csv(path, index=False)
    generated_data_load(data=data)
    loaded = _rows()
    Studio.objects.all().delete()

    report = metrics_import(data=path.read_bytes())

    assert report.ok and not report.warnings and report.created == 72
    assert _rows() == loaded


def test_bad_arguments_are_refused_before_anything_is_written():
    with pytest.raises(CommandError, match="--months"):
        call_command("generate_data", studios=2, months=6)
    with pytest.raises(CommandError, match="--csv-only needs"):
        call_command("generate_data", studios=2, csv_only=True)

    assert not Studio.objects.exists()
