"""Exports for BI tools: datasets as CSV and Parquet, by command, URL and admin."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from exports import datasets as registry
from exports.datasets import Column, Dataset
from exports.services import export_open
from exports.writers import arrow_schema
from forecasting.models import PredictionType
from studios.models import MonthlyMetric
from studios.services import api_token_create
from studiosim.errors import InvalidInput, NotFound
from tests.factories import (
    MonthlyMetricFactory,
    PredictionLogFactory,
    ScenarioFactory,
    StaffUserFactory,
    StudioFactory,
    StudioMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    """Two studios with three months each; ``owner`` is a member of the first only."""
    first, second = StudioFactory(name="Alpha Yoga"), StudioFactory(name="Beta Pilates")
    for studio in (first, second):
        for month in (1, 2, 3):
            MonthlyMetricFactory(studio=studio, month_year=dt.date(2026, month, 1))
    owner = StudioMembershipFactory(studio=first, user=UserFactory(username="ann")).user
    return first, second, owner


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def collect(export) -> bytes:
    return b"".join(export.chunks)


# --- formats ------------------------------------------------------------------------


@pytest.mark.smoke
def test_monthly_metrics_as_csv_have_the_documented_columns_and_formats(chain):
    first, _, _ = chain

    export = export_open(dataset="monthly_metrics", format="csv", user=None)
    rows = read_csv(collect(export))

    assert export.rows == len(rows) == 6
    assert list(rows[0]) == registry.DATASETS["monthly_metrics"].column_names
    row = next(
        r for r in rows if r["studio_name"] == first.name and r["month"] == "2026-02-01"
    )
    assert row["studio_id"] == str(first.pk)
    assert row["avg_ticket_price"] == "150.00"
    assert row["total_revenue"] == "46200.00"
    assert row["retention_rate"] == "0.92"
    assert row["is_outlier"] == "false"
    assert row["outlier_reason"] == ""
    assert row["updated_at"].endswith("Z")


@pytest.mark.smoke
def test_parquet_keeps_the_types_and_is_written_in_row_groups(chain):
    # when: two rows per row group
    export = export_open(
        dataset="monthly_metrics", format="parquet", user=None, row_group_rows=2
    )
    data = collect(export)

    # then
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.num_rows == 6
    schema = table.schema
    assert schema.field("avg_ticket_price").type == pa.decimal128(12, 2)
    assert schema.field("month").type == pa.date32()
    assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("is_outlier").type == pa.bool_()
    assert schema.field("total_members").type == pa.int64()
    assert schema.field("retention_rate").metadata[b"description"]
    assert schema.metadata[b"dataset"] == b"monthly_metrics"
    revenue = table.column("total_revenue").to_pylist()
    assert revenue == [Decimal("46200.00")] * 6
    months = sorted(set(table.column("month").to_pylist()))
    assert months == [dt.date(2026, m, 1) for m in (1, 2, 3)]


def test_a_row_group_also_closes_at_its_byte_budget(chain, monkeypatch):
    from exports import writers

    monkeypatch.setattr(writers, "BATCH_ROWS", 2)
    monkeypatch.setattr(writers, "ROW_GROUP_BYTES", 1)

    export = export_open(dataset="monthly_metrics", format="parquet", user=None)
    parquet = pq.ParquetFile(io.BytesIO(collect(export)))

    # 6 rows, 2 per Arrow batch, each batch over the budget: 3 row groups
    assert parquet.metadata.num_row_groups == 3
    assert parquet.metadata.num_rows == 6


def test_csv_is_produced_in_chunks_not_all_at_once(db):
    studio = StudioFactory()
    MonthlyMetric.objects.bulk_create(
        [
            MonthlyMetricFactory.build(
                studio=studio, month_year=dt.date(1900 + i // 12, i % 12 + 1, 1)
            )
            for i in range(1200)
        ]
    )

    chunks = list(
        export_open(dataset="monthly_metrics", format="csv", user=None).chunks
    )

    # 500 + 500 + 200 rows; the header rides with the first chunk
    assert [len(chunk.splitlines()) for chunk in chunks] == [501, 500, 200]
    assert len(read_csv(b"".join(chunks))) == 1200


# --- datasets -----------------------------------------------------------------------


def test_forecasts_have_one_row_per_predicted_month_with_actuals(chain):
    first, _, _ = chain
    PredictionLogFactory(
        studio=first,
        prediction_type=PredictionType.FORWARD,
        base_month=dt.date(2026, 1, 1),
        projection_months=2,
        outputs={
            "predictions": [
                {
                    "month": 1,
                    "month_year": "2026-02-01",
                    "revenue": 50000.0,
                    "member_count": 251.5,
                    "lower": 45000.0,
                    "upper": 55000.0,
                    "confidence_score": 0.9,
                },
                {
                    "month": 2,
                    "month_year": "2026-03-01",
                    "revenue": 51000.0,
                    "member_count": 253.0,
                    "lower": 45500.0,
                    "upper": 56500.0,
                    "confidence_score": 0.88,
                },
            ]
        },
        actual_outcome={"2026-02-01": 46200.0},
    )
    PredictionLogFactory(
        studio=first,
        prediction_type=PredictionType.INVERSE,
        base_month=dt.date(2026, 1, 1),
        projection_months=3,
        outputs={"monthly_revenue": [47000.0, 48000.0, 49000.0]},
    )

    rows = read_csv(collect(export_open(dataset="forecasts", format="csv", user=None)))

    assert len(rows) == 5
    forward = [r for r in rows if r["prediction_type"] == "forward"]
    assert [r["month"] for r in forward] == ["2026-02-01", "2026-03-01"]
    assert forward[0]["predicted_revenue"] == "50000.0"
    assert forward[0]["revenue_lower"] == "45000.0"
    assert forward[0]["actual_revenue"] == "46200.00"
    assert float(forward[0]["abs_pct_error"]) == pytest.approx(3800 / 46200)
    assert forward[1]["actual_revenue"] == forward[1]["abs_pct_error"] == ""
    inverse = [r for r in rows if r["prediction_type"] == "inverse"]
    assert [r["month_number"] for r in inverse] == ["1", "2", "3"]
    assert [r["month"] for r in inverse] == ["2026-02-01", "2026-03-01", "2026-04-01"]
    assert inverse[0]["revenue_lower"] == ""

    logs = read_csv(
        collect(export_open(dataset="prediction_logs", format="csv", user=None))
    )
    assert len(logs) == 2
    assert {r["predicted_revenue_last_month"] for r in logs} == {"51000.0", "49000.0"}


def test_scenarios_flatten_the_plan_and_headline_figures(chain):
    first, _, _ = chain
    ScenarioFactory(
        studio=first,
        name="Price up",
        scenario_type="forward",
        tags=["pricing", "q3"],
        predicted_outputs={
            "levers": {"avg_ticket_price": 165.0, "retention_rate": 0.9},
            "predictions": [{"revenue": 1.0}, {"revenue": 52000.5}],
            "total_projected_revenue": 104000.0,
        },
    )

    export = export_open(dataset="scenarios", format="parquet", user=None)
    table = pq.read_table(io.BytesIO(collect(export)))

    [row] = table.to_pylist()
    assert row["name"] == "Price up"
    assert row["tags"] == '["pricing","q3"]'
    assert row["plan_avg_ticket_price"] == 165.0
    assert row["plan_upsell_rate"] is None
    assert row["predicted_revenue_last_month"] == 52000.5
    assert row["total_projected_revenue"] == 104000.0
    assert row["target_revenue"] is None


def test_a_new_dataset_is_one_registry_entry(chain):
    """The way batch forecasts will be added: register a Dataset, nothing else."""

    def rows(*, user, studio_ids):
        yield {"studio_count": 2, "note": "hello"}

    dataset = Dataset(
        name="test_only",
        title="Test only",
        description="A dataset registered by a test.",
        columns=(
            Column("studio_count", "int", "How many."),
            Column("note", "string", "Text."),
        ),
        rows=rows,
    )
    registry.register(dataset)
    try:
        data = collect(export_open(dataset="test_only", format="csv", user=None))
        assert data == b"studio_count,note\r\n2,hello\r\n"
        assert arrow_schema(dataset).field("studio_count").type == pa.int64()
        with pytest.raises(ValueError, match="already registered"):
            registry.register(dataset)
    finally:
        del registry.DATASETS["test_only"]


# --- tenancy ------------------------------------------------------------------------


def test_a_member_exports_only_their_studios_and_staff_everything(chain):
    first, second, owner = chain
    staff = StaffUserFactory()

    mine = read_csv(collect(export_open(dataset="studios", format="csv", user=owner)))
    everything = read_csv(
        collect(export_open(dataset="studios", format="csv", user=staff))
    )
    metrics = read_csv(
        collect(export_open(dataset="monthly_metrics", format="csv", user=owner))
    )

    assert [r["name"] for r in mine] == [first.name]
    assert {r["name"] for r in everything} == {first.name, second.name}
    assert {r["studio_id"] for r in metrics} == {str(first.pk)}
    nobody = UserFactory(username="nobody")
    assert (
        read_csv(collect(export_open(dataset="studios", format="csv", user=nobody)))
        == []
    )


def test_asking_for_a_studio_one_may_not_see_is_answered_like_a_missing_one(chain):
    _, second, owner = chain

    with pytest.raises(NotFound, match=f"No studio {second.pk}"):
        export_open(dataset="studios", format="csv", user=owner, studios=[second.pk])
    with pytest.raises(NotFound, match="No studio Nowhere Gym"):
        export_open(dataset="studios", format="csv", user=None, studios=["Nowhere Gym"])


def test_unknown_dataset_or_format_is_refused_before_reading(chain):
    with pytest.raises(InvalidInput, match="unknown dataset 'members'"):
        export_open(dataset="members", format="csv", user=None)
    with pytest.raises(InvalidInput, match="unknown format 'xlsx'"):
        export_open(dataset="studios", format="xlsx", user=None)


# --- the command --------------------------------------------------------------------


@pytest.mark.smoke
def test_the_command_writes_a_file_for_a_user_and_by_studio_name(chain, tmp_path):
    first, _, owner = chain
    target = tmp_path / "metrics.parquet"

    call_command(
        "export",
        "monthly_metrics",
        format="parquet",
        output=str(target),
        user=owner.username,
        studio=[first.name],
    )

    table = pq.read_table(target)
    assert table.num_rows == 3
    assert set(table.column("studio_name").to_pylist()) == {first.name}
    assert list(tmp_path.iterdir()) == [target]


def test_a_refused_export_leaves_the_previous_file_alone(chain, tmp_path):
    _, second, owner = chain
    target = tmp_path / "studios.csv"
    target.write_text("previous export\n")

    with pytest.raises(CommandError, match="--studio: No studio"):
        call_command(
            "export",
            "studios",
            output=str(target),
            user=owner.username,
            studio=[str(second.pk)],
        )
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("export", "studios", output=str(target), user="ghost")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export", "studios", output=str(tmp_path / "no" / "x.csv"))

    assert target.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studios.csv"]


def test_the_command_can_write_to_standard_output(chain, capfdbinary):
    call_command("export", "studios", output="-")

    out = capfdbinary.readouterr().out
    assert len(read_csv(out)) == 2


# --- the download URL ----------------------------------------------------------------


def test_a_token_downloads_what_its_user_may_see(client, chain):
    first, second, owner = chain
    _, key = api_token_create(user=owner, name="power-bi")
    url = reverse("exports:download", args=["monthly_metrics", "csv"])

    response = client.get(url, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        'attachment; filename="studiosim-monthly_metrics-'
        in (response["Content-Disposition"])
    )
    rows = read_csv(b"".join(response.streaming_content))
    assert {r["studio_id"] for r in rows} == {str(first.pk)}

    hidden = client.get(
        url, {"studio": str(second.pk)}, headers={"Authorization": f"Bearer {key}"}
    )
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "NOT_FOUND"


def test_the_download_url_needs_a_user_and_a_known_dataset(client, chain):
    _, _, owner = chain
    url = reverse("exports:download", args=["studios", "parquet"])

    assert client.get(url).status_code == 401
    assert (
        client.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code
        == 401
    )
    client.force_login(owner)
    assert client.get(url).status_code == 200
    unknown = client.get(reverse("exports:download", args=["members", "csv"]))
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "dataset"


# --- the admin ----------------------------------------------------------------------


@pytest.mark.smoke
def test_staff_export_from_the_admin_page(client, chain, superuser):
    client.force_login(superuser)
    url = reverse("admin-export")

    page = client.get(url)
    assert page.status_code == 200
    for dataset in registry.DATASETS.values():
        assert f'value="{dataset.name}"' in page.content.decode()

    download = client.post(url, {"dataset": "studios", "format": "csv"})
    assert download.status_code == 200
    assert len(read_csv(b"".join(download.streaming_content))) == 2

    bad = client.post(url, {"dataset": "studios", "format": "xlsx"})
    assert bad.status_code == 400
    assert "unknown format" in bad.content.decode()


def test_the_studio_list_action_exports_the_selected_studios(client, chain, superuser):
    first, _, _ = chain
    client.force_login(superuser)

    page = client.post(
        reverse("admin:studios_studio_changelist"),
        {"action": "export_selected", "_selected_action": [str(first.pk)]},
    )

    assert page.status_code == 200
    content = page.content.decode()
    assert f'name="studio" value="{first.pk}"' in content
    download = client.post(
        reverse("admin-export"),
        {"dataset": "monthly_metrics", "format": "csv", "studio": [str(first.pk)]},
    )
    rows = read_csv(b"".join(download.streaming_content))
    assert {r["studio_id"] for r in rows} == {str(first.pk)}


def test_the_admin_export_page_is_for_staff_only(client, chain):
    _, _, owner = chain
    client.force_login(owner)

    response = client.get(reverse("admin-export"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.smoke
def test_docs_export_md_describes_every_registered_dataset_and_column():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    for dataset in registry.DATASETS.values():
        assert f"### `{dataset.name}`" in text
        section = text.split(f"### `{dataset.name}`", 1)[1].split("\n### ", 1)[0]
        for column in dataset.columns:
            assert f"| `{column.name}` | {column.type} |" in section, column.name


def test_batch_forecasts_are_each_studio_s_latest_by_the_active_version(chain):
    """One row per month of each studio's newest stored forecast by the active
    version; other versions' and older runs' rows are left out."""
    from forecasting.models import ModelVersionStatus
    from tests.factories import (
        BatchForecastFactory,
        ModelVersionFactory,
        StudioForecastFactory,
    )

    first, second, owner = chain
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    old_run, new_run = (
        BatchForecastFactory(model_version=active),
        BatchForecastFactory(model_version=active),
    )
    StudioForecastFactory(studio=first, run=old_run, revenue=[1.0, 2.0])
    newest = StudioForecastFactory(
        studio=first,
        run=new_run,
        base_month=dt.date(2026, 3, 1),
        created_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    StudioForecastFactory(studio=second, run=new_run)
    StudioForecastFactory(studio=second)  # another (inactive) version's

    rows = read_csv(
        collect(export_open(dataset="batch_forecasts", format="csv", user=None))
    )
    mine = read_csv(
        collect(export_open(dataset="batch_forecasts", format="csv", user=owner))
    )

    assert len(rows) == 4
    assert {r["run_id"] for r in rows} == {str(new_run.pk)}
    first_rows = [r for r in rows if r["studio_id"] == str(first.pk)]
    assert [r["month"] for r in first_rows] == ["2026-04-01", "2026-05-01"]
    assert [float(r["predicted_revenue"]) for r in first_rows] == newest.revenue
    assert first_rows[0]["revenue_lower"] == "110000.0"
    assert {r["model_version"] for r in rows} == {active.version}
    assert {r["studio_id"] for r in mine} == {str(first.pk)}
