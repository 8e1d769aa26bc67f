"""Importing real data (SPEC §3): validate everything, then all or nothing."""

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from studios.models import MonthlyMetric, Split, Studio
from studios.services import ImportFailed, metrics_import
from tests.factories import StudioFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SAMPLE = FIXTURES / "sample_metrics.csv"
ERRORS = FIXTURES / "sample_metrics_errors.csv"

HEADER = (
    "studio_name,studio_type,location,max_capacity,month_year,total_members,"
    "new_members,churned_members,avg_ticket_price,total_classes_held,"
    "total_class_attendance,total_revenue"
)


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _row(month: str, members: int, new: int, churned: int, **overrides) -> str:
    values = {
        "studio_name": "Lotus Test Yoga",
        "studio_type": "yoga",
        "location": '"Austin, TX"',
        "max_capacity": "20",
        "month_year": month,
        "total_members": str(members),
        "new_members": str(new),
        "churned_members": str(churned),
        "avg_ticket_price": "150.00",
        "total_classes_held": "200",
        "total_class_attendance": "2800",
        "total_revenue": "40000.00",
    }
    values.update(overrides)
    return ",".join(values.values())


@pytest.mark.smoke
def test_sample_file_imports_with_derived_fields_and_ignored_columns():
    report = metrics_import(data=SAMPLE.read_bytes())

    assert report.ok and report.created == 48 and report.rows == 48
    assert report.ignored_columns == ["source_system"]
    assert Studio.objects.count() == 2
    assert MonthlyMetric.objects.count() == 48
    for studio in Studio.objects.all():
        splits = list(
            studio.monthly_metrics.order_by("month_year").values_list(
                "split", flat=True
            )
        )
        assert splits == [Split.TRAIN] * 12 + [Split.VALIDATION] * 6 + [Split.TEST] * 6


def test_reimporting_the_same_file_changes_nothing():
    metrics_import(data=SAMPLE.read_bytes())
    versions = dict(Studio.objects.values_list("name", "data_version"))
    before = list(MonthlyMetric.objects.order_by("pk").values())

    report = metrics_import(data=SAMPLE.read_bytes())

    assert (report.created, report.updated, report.unchanged) == (0, 0, 48)
    assert dict(Studio.objects.values_list("name", "data_version")) == versions
    assert list(MonthlyMetric.objects.order_by("pk").values()) == before


def test_changed_rows_are_updated_and_bump_the_data_version():
    metrics_import(
        data=_csv(_row("2024-01", 200, 20, 10), _row("2024-02", 210, 20, 10))
    )
    studio = Studio.objects.get()

    report = metrics_import(
        data=_csv(
            _row("2024-02", 210, 20, 10, total_revenue="41000.00"),
            _row("2024-03", 215, 15, 10),
        )
    )

    studio_after = Studio.objects.get()
    assert (report.created, report.updated, report.unchanged) == (1, 1, 0)
    assert studio_after.data_version == studio.data_version + 1
    feb = MonthlyMetric.objects.get(month_year=dt.date(2024, 2, 1))
    assert feb.total_revenue == Decimal("41000.00")


def test_optional_fields_are_derived_where_possible_and_missing_otherwise():
    metrics_import(
        data=_csv(_row("2024-01", 200, 20, 10), _row("2024-02", 210, 20, 10))
    )

    feb = MonthlyMetric.objects.get(month_year=dt.date(2024, 2, 1))
    assert feb.retention_rate == pytest.approx(1 - 10 / 200)
    assert feb.class_attendance_rate == pytest.approx(2800 / (200 * 20))
    assert feb.average_member_lifetime_months == pytest.approx(1 / (10 / 200))
    assert feb.upsell_rate is None and feb.staff_count is None
    jan = MonthlyMetric.objects.get(month_year=dt.date(2024, 1, 1))
    # No previous month: last month's members follow from the identity.
    assert jan.retention_rate == pytest.approx(1 - 10 / (200 - 20 + 10))


def test_each_error_class_is_reported_with_line_and_column_and_nothing_is_written():
    with pytest.raises(ImportFailed) as failed:
        metrics_import(data=ERRORS.read_bytes())

    found = {(p.line, p.column, p.severity) for p in failed.value.report.problems}
    assert {
        (3, "total_members", "error"),  # not a number
        (4, "retention_rate", "error"),  # a percentage, not a fraction
        (5, "new_members", "error"),  # negative
        (6, "avg_ticket_price", "error"),  # required value missing
        (7, "outlier_reason", "error"),  # unknown reason
        (10, "month_year", "error"),  # duplicate studio-month
        (12, "month_year", "error"),  # not a month
        (13, "studio_type", "error"),  # unknown studio type
        (14, "studio_type", "error"),  # new studio without a type
        (14, "location", "warning"),  # ... without a location: blank for now
        (14, "max_capacity", "error"),  # ... without a capacity
        (2, "month_year", "warning"),  # gap in months: missing data
        (16, "total_members", "warning"),  # stock-flow identity off
        (16, "total_revenue", "warning"),  # components do not add up
    } <= found
    assert Studio.objects.count() == 0
    assert MonthlyMetric.objects.count() == 0
    [blank] = [p for p in failed.value.report.problems if p.line == 6]
    # what to do about it: a month left out is missing data, never a refusal
    assert blank.message.startswith("is required; a month the system did not record")
    assert "treated as missing data" in blank.message


def test_a_single_bad_row_blocks_the_whole_file():
    with pytest.raises(ImportFailed):
        metrics_import(
            data=_csv(_row("2024-01", 200, 20, 10), _row("2024-02", -5, 20, 10))
        )

    assert MonthlyMetric.objects.count() == 0


def test_missing_required_column_is_reported_on_the_header_line():
    with pytest.raises(ImportFailed) as failed:
        metrics_import(data="studio_name,month_year\nA,2024-01\n")

    missing = {p.column for p in failed.value.report.errors if p.line == 1}
    assert missing == {
        "total_members",
        "new_members",
        "churned_members",
        "avg_ticket_price",
        "total_classes_held",
        "total_class_attendance",
        "total_revenue",
    }


def test_a_required_column_under_a_booking_system_s_own_name_is_pointed_out():
    """'Revenue' or 'Cancellations' is most likely the column asked for, but never
    read as it silently: an 'Attendance' column may hold a rate, not visits."""
    export = (
        "Studio,Month,Members,New Members,Cancellations,Avg Ticket,Classes,"
        "Attendance,Revenue,Notes\nLotus,2024-01,200,20,10,150,100,1500,30000,\n"
    )

    with pytest.raises(ImportFailed) as failed:
        metrics_import(data=export)

    reasons = {p.column: p.message for p in failed.value.report.errors}
    assert reasons["total_revenue"] == (
        "required column is missing; the file has 'Revenue': if it holds the "
        "month's total revenue, name it total_revenue"
    )
    assert "the file has 'Cancellations'" in reasons["churned_members"]
    assert "new_members" not in reasons  # 'New Members' is its name, as written
    assert "(a count, not a rate)" in reasons["total_class_attendance"]
    assert len(reasons) == 8 and not Studio.objects.exists()


def test_gaps_are_checked_against_months_already_in_the_database():
    """Missing months are reported, counting the database's, and imported as missing."""
    metrics_import(data=_csv(_row("2024-01", 200, 20, 10)))

    report = metrics_import(data=_csv(_row("2024-04", 200, 20, 10)))

    assert report.ok and report.created == 1
    [gap] = [w for w in report.warnings if w.column == "month_year"]
    assert "2024-02, 2024-03 missing; they are treated as missing data" in str(gap)


def test_a_new_studio_without_a_location_is_created_blank_with_a_warning():
    """An export rarely says where a studio is: staff fill it in later."""
    report = metrics_import(data=_csv(_row("2024-01", 200, 20, 10, location="")))

    studio = Studio.objects.get()
    assert (studio.city, studio.state, studio.location) == ("", "", "")
    [warning] = [w for w in report.warnings if w.column == "location"]
    assert "created with a blank one" in str(warning)


def test_a_default_location_applies_to_new_studios_without_one():
    """Like --studio-type: given once, for every new studio the file leaves bare."""
    data = _csv(_row("2024-01", 200, 20, 10, location=""))

    report = metrics_import(data=data, default_location="Denver, CO")

    assert (Studio.objects.get().city, Studio.objects.get().state) == ("Denver", "CO")
    assert not [w for w in report.warnings if w.column == "location"]


def test_the_command_takes_a_location_for_new_studios(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(_csv(_row("2024-01", 200, 20, 10, location="")))

    call_command(
        "import_metrics", str(path), "--location", "Boise", stdout=io.StringIO()
    )

    assert Studio.objects.get().location == "Boise"


def test_new_studios_take_the_currency_given_and_known_ones_keep_their_own(tmp_path):
    """Like --location: a chain exporting in yen creates its studios in yen (their
    peers, plans and words follow it); a studio already known keeps its own."""
    StudioFactory(name="Known Test Yoga", max_capacity=20, currency="EUR")
    revenue = ["6000000"] * 6 + ["2800000"]
    path = tmp_path / "export.csv"
    path.write_text(
        _csv(
            *(
                _row(f"2024-{m + 1:02d}", 200, 20, 20, total_revenue=r)
                for m, r in enumerate(revenue)
            ),
            _row("2024-01", 150, 15, 15, studio_name="Known Test Yoga"),
        )
    )
    out = io.StringIO()

    call_command("import_metrics", str(path), "--currency", "jpy", stdout=out)

    assert Studio.objects.get(name="Lotus Test Yoga").currency == "JPY"
    assert Studio.objects.get(name="Known Test Yoga").currency == "EUR"
    # the latest month's warning writes its money in yen
    assert "its revenue (JPY 2,800,000) is 0.47x the month before (JPY 6,000,000)" in (
        out.getvalue()
    )
    # and the operator is told the tactics' costs stay in dollars without a rate
    assert "which CURRENCY_RATES does not list" in out.getvalue()


def test_new_studios_in_a_currency_with_a_rate_import_without_that_warning(settings):
    settings.CURRENCY_RATES = {"JPY": 150.0}

    report = metrics_import(
        data=_csv(_row("2024-01", 200, 20, 10)), default_currency="JPY"
    )

    assert report.studios_created
    assert not any("CURRENCY_RATES" in p.message for p in report.problems)


@pytest.mark.parametrize("currency", ["US", "dollars", "US$", ""])
def test_a_currency_that_is_not_a_code_refuses_the_file(currency):
    with pytest.raises(ImportFailed) as failed:
        metrics_import(
            data=_csv(_row("2024-01", 200, 20, 10)), default_currency=currency
        )

    [problem] = failed.value.report.errors
    assert problem.column == "currency"
    assert "is not a currency code" in problem.message
    assert not Studio.objects.exists()


def test_the_admin_import_creates_new_studios_in_the_currency_given(
    client, superuser, settings
):
    settings.CURRENCY_RATES = {"CHF": 0.88}  # else a warning keeps the page open
    client.force_login(superuser)
    upload = io.BytesIO(_csv(_row("2024-01", 200, 20, 10)).encode())
    upload.name = "export.csv"

    response = client.post(
        reverse("admin:studios_monthlymetric_import"),
        {"file": upload, "currency": "chf"},
    )

    assert response.status_code == 302
    assert Studio.objects.get().currency == "CHF"


def test_utf8_bom_and_full_dates_are_accepted():
    data = "\ufeff" + _csv(
        _row("2024-01-01", 200, 20, 10), _row("2024-02-15", 210, 20, 10)
    )

    report = metrics_import(data=data.encode("utf-8"))

    assert report.created == 2
    assert set(MonthlyMetric.objects.values_list("month_year", flat=True)) == {
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    }


@pytest.mark.parametrize(
    "months",
    [
        ("2024/01", "2024/02"),
        ("01/2024", "02/2024"),
        ("Jan 2024", "February 2024"),
        ('"January, 2024"', '"Feb, 2024"'),  # quoted: a comma inside
        ("Jan-24", "Feb-24"),  # a spreadsheet's mmm-yy
        ("202401", "202402"),  # a warehouse's month key
        ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00.000+00:00"),  # JSON, BI tools
    ],
)
def test_month_formats_exports_use_are_accepted(months):
    report = metrics_import(
        data=_csv(_row(months[0], 200, 20, 10), _row(months[1], 210, 20, 10))
    )

    assert report.created == 2
    assert set(MonthlyMetric.objects.values_list("month_year", flat=True)) == {
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    }


@pytest.mark.parametrize(
    "month",
    [
        "03/04/2024",  # March 4th or April 3rd
        "Jan 24",  # January 24th, with no year
        "202413",  # no 13th month
        "2024-03-01T12:00:00Z",  # a moment, not a month
    ],
)
def test_a_date_that_is_not_surely_a_month_is_refused(month):
    with pytest.raises(ImportFailed) as failed:
        metrics_import(data=_csv(_row(month, 200, 20, 10)))

    [problem] = failed.value.report.errors
    assert (problem.line, problem.column) == (2, "month_year")
    assert "is not a month" in problem.message


def test_sept_is_read_as_september():
    metrics_import(data=_csv(_row("Sept 2024", 200, 20, 10)))

    assert MonthlyMetric.objects.get().month_year == dt.date(2024, 9, 1)


def test_thousands_separators_currency_signs_and_percent_rates_are_read():
    header = HEADER + ",retention_rate"
    data = _csv(
        _row("2024-01", 1200, 120, 100, total_members='"1,200"') + ",0.9",
        _row(
            "2024-02",
            1220,
            120,
            100,
            total_members='"1,220"',
            total_revenue='"$41,250.75"',
            total_class_attendance='"2,800"',
        )
        + ",88%",
        header=header,
    )

    metrics_import(data=data)

    feb = MonthlyMetric.objects.get(month_year=dt.date(2024, 2, 1))
    assert feb.total_members == 1220 and feb.total_class_attendance == 2800
    assert feb.total_revenue == Decimal("41250.75")
    assert feb.retention_rate == pytest.approx(0.88)


def test_a_semicolon_file_with_decimal_commas_is_read_as_a_spreadsheet_wrote_it():
    """A spreadsheet set to a decimal comma separates with semicolons and writes
    41.250,75; every number of such a file is read that way."""
    header = HEADER.replace(",", ";") + ";retention_rate"
    rows = [
        _row(month, 1200, 120, 100, total_members="1.200", location="Austin TX")
        .replace(",", ";")
        .replace("150.00", "150,5")
        .replace("40000.00", revenue)
        + ";0,9"
        for month, revenue in (("2024-01", "40.000,00"), ("2024-02", "$41.250,75"))
    ]

    metrics_import(data=_csv(*rows, header=header))

    feb = MonthlyMetric.objects.get(month_year=dt.date(2024, 2, 1))
    assert feb.total_members == 1200
    assert feb.total_revenue == Decimal("41250.75")
    assert feb.avg_ticket_price == Decimal("150.50")
    assert feb.retention_rate == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("written", "amount"),
    [
        ('"€41,250.75"', "41250.75"),
        ('"41,250.75 €"', "41250.75"),
        ('"£41,250.75"', "41250.75"),
        ('"¥4,125,075"', "4125075"),
        ('"USD 41,250.75"', "41250.75"),
        ('"41250.75 CHF"', "41250.75"),
        ("41 250.75", "41250.75"),  # thousands grouped by a space
        ("41\u00a0250.75", "41250.75"),  # ... or a no-break space
    ],
)
def test_amounts_are_read_whatever_currency_is_written_beside_them(written, amount):
    metrics_import(data=_csv(_row("2024-01", 200, 20, 10, total_revenue=written)))

    assert MonthlyMetric.objects.get().total_revenue == Decimal(amount)


def test_a_french_export_with_spaces_and_decimal_commas_is_read():
    """41 250,75 € in a semicolon file: spaces group the thousands."""
    header = HEADER.replace(",", ";")
    row = (
        _row("2024-01", 1200, 120, 100, location="Lyon")
        .replace(",", ";")
        .replace("1200", "1 200")
        .replace("150.00", "150,50 €")
        .replace("40000.00", "41 250,75 €")
    )

    metrics_import(data=_csv(row, header=header))

    month = MonthlyMetric.objects.get()
    assert month.total_members == 1200
    assert month.total_revenue == Decimal("41250.75")
    assert month.avg_ticket_price == Decimal("150.50")


def test_a_semicolon_file_with_decimal_points_keeps_them():
    """No number of the file has a decimal comma: 0.132 is a rate, not 132."""
    header = HEADER.replace(",", ";") + ";upsell_rate"
    rows = [
        _row(month, 200, 20, 10, location="Austin TX").replace(",", ";") + ";0.132"
        for month in ("2024-01", "2024-02")
    ]

    metrics_import(data=_csv(*rows, header=header))

    feb = MonthlyMetric.objects.get(month_year=dt.date(2024, 2, 1))
    assert feb.upsell_rate == pytest.approx(0.132)
    assert feb.total_revenue == Decimal("40000.00")


def test_headers_are_read_whatever_their_case_and_spacing():
    header = ",".join(
        name.replace("_", " ").title() if k % 2 else name.upper().replace("_", "-")
        for k, name in enumerate(HEADER.split(","))
    )
    assert "Total Members" in header or "TOTAL-MEMBERS" in header

    report = metrics_import(
        data=_csv(
            _row("2024-01", 200, 20, 10), _row("2024-02", 210, 20, 10), header=header
        )
    )

    assert report.created == 2 and report.ignored_columns == []


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2024-01-01 00:00:00", True),
        ("2024-01-01T00:00", True),
        ("2024-01-01 13:45:00", False),
    ],
)
def test_a_month_written_as_a_midnight_timestamp_is_a_month(text, ok):
    data = _csv(_row(text, 200, 20, 10))
    if ok:
        metrics_import(data=data)
        assert MonthlyMetric.objects.get().month_year == dt.date(2024, 1, 1)
    else:
        with pytest.raises(ImportFailed) as failed:
            metrics_import(data=data)
        [problem] = failed.value.report.errors
        assert problem.column == "month_year" and "is not a month" in problem.message


@pytest.mark.parametrize("text", ["1,2", "12,34", "1.200,50"])
def test_a_comma_that_is_no_thousands_separator_is_an_error(text):
    with pytest.raises(ImportFailed) as failed:
        metrics_import(
            data=_csv(_row("2024-01", 200, 20, 10, total_members=f'"{text}"'))
        )

    [problem] = failed.value.report.errors
    assert problem.column == "total_members" and "whole number" in problem.message


def test_a_studio_that_breaks_the_identity_every_month_gets_one_warning():
    """Up to three breaks are listed one by one; more are summed up once."""
    members = [200, 230, 260, 290, 320, 350]  # +30 a month, flows say +10
    rows = [_row(f"2024-{m + 1:02d}", count, 20, 10) for m, count in enumerate(members)]
    rows += [
        _row(f"2024-{m + 1:02d}", count, 20, 10, studio_name="Two Breaks Yoga")
        for m, count in enumerate([200, 210, 240, 250, 280])
    ]

    report = metrics_import(data=_csv(*rows))

    identity = [w for w in report.warnings if w.column == "total_members"]
    summed = [w for w in identity if "Lotus Test Yoga" in w.message]
    assert len(summed) == 1
    assert summed[0].line == 3  # the first month that breaks it
    assert "in 5 of its 6 months" in summed[0].message
    assert "200 members" not in summed[0].message.split("first")[0]
    listed = [w for w in identity if w not in summed]
    assert [w.line for w in listed] == [10, 12]
    assert "240 members, but last month's 210 + 20 new - 10 churned = 220" in (
        listed[0].message
    )


def test_a_latest_month_that_looks_unfinished_is_a_warning_and_still_imports():
    """An export taken mid-month: the latest month's revenue is half of one
    while the member count (a stock) is whole. Said, never corrected."""
    revenue = ["40000.00"] * 6 + ["19000.00"]
    rows = [
        _row(f"2024-{m + 1:02d}", 200, 20, 20, total_revenue=r)
        for m, r in enumerate(revenue)
    ]
    # the same months for a studio whose last month is merely weak
    rows += [
        _row(
            f"2024-{m + 1:02d}",
            200,
            20,
            20,
            studio_name="Steady Test Yoga",
            total_revenue="34000.00" if m == 6 else "40000.00",
        )
        for m in range(7)
    ]

    report = metrics_import(data=_csv(*rows))

    [warning] = [w for w in report.warnings if w.column == "total_revenue"]
    assert warning.line == 8
    assert warning.message.startswith(
        "studio 'Lotus Test Yoga': 2024-07, its latest month, looks unfinished: "
        "its revenue ($19,000) is 0.47x the month before ($40,000)"
    )
    assert "leave that month out and import it once it closes" in warning.message
    stored = MonthlyMetric.objects.get(
        studio__name="Lotus Test Yoga", month_year=dt.date(2024, 7, 1)
    )
    assert stored.total_revenue == Decimal("19000.00")


def test_a_studio_staff_created_without_data_gets_the_same_check():
    """A studio known to the database with no month yet: its file's latest
    month is its latest."""
    StudioFactory(name="Lotus Test Yoga", max_capacity=20)
    revenue = ["40000.00"] * 6 + ["19000.00"]
    rows = [
        _row(f"2024-{m + 1:02d}", 200, 20, 20, total_revenue=r)
        for m, r in enumerate(revenue)
    ]
    report = metrics_import(data=_csv(*rows))
    [warning] = [w for w in report.warnings if w.column == "total_revenue"]
    assert "2024-07, its latest month, looks unfinished" in warning.message


def test_a_monthly_import_of_an_unfinished_month_is_held_to_the_months_stored():
    """The month just closed, imported on its own: the months before it are in
    the database. A month flagged as an outlier there is not held against it."""
    history = [
        _row(f"2024-{m + 1:02d}", 200, 20, 20, total_revenue="40000.00")
        for m in range(6)
    ]
    metrics_import(data=_csv(*history))

    report = metrics_import(
        data=_csv(_row("2024-07", 200, 20, 20, total_revenue="19000.00"))
    )
    [warning] = [w for w in report.warnings if w.column == "total_revenue"]
    assert warning.line == 2
    assert "2024-07, its latest month, looks unfinished" in warning.message
    assert "0.47x the month before ($40,000)" in warning.message

    # a whole month imported the same way is not named
    report = metrics_import(
        data=_csv(_row("2024-08", 200, 20, 20, total_revenue="39000.00"))
    )
    assert not [w for w in report.warnings if w.column == "total_revenue"]

    # the month before flagged as an outlier: nothing to hold the month to
    MonthlyMetric.objects.filter(month_year=dt.date(2024, 8, 1)).update(is_outlier=True)
    report = metrics_import(
        data=_csv(_row("2024-09", 200, 20, 20, total_revenue="19000.00"))
    )
    assert not [w for w in report.warnings if w.column == "total_revenue"]


def test_an_unfinished_month_is_judged_only_as_the_studios_latest():
    """A low month in the middle of the file, or a file of older months than the
    database holds, is not the month a forecast starts from."""
    revenue = ["40000.00"] * 6 + ["19000.00", "40000.00"]
    rows = [
        _row(f"2024-{m + 1:02d}", 200, 20, 20, total_revenue=r)
        for m, r in enumerate(revenue)
    ]
    report = metrics_import(data=_csv(*rows))
    assert not [w for w in report.warnings if w.column == "total_revenue"]

    older = [
        _row(f"2023-{m + 1:02d}", 200, 20, 20, total_revenue=r)
        for m, r in enumerate(revenue[:7])
    ]
    report = metrics_import(data=_csv(*older))
    assert not [w for w in report.warnings if w.column == "total_revenue"]


def test_a_name_written_two_ways_is_refused_not_made_into_two_studios():
    """Two systems' exports put together spell one studio two ways: a second
    studio would split its history. Refused, with both spellings."""
    rows = [_row("2024-01", 200, 20, 10), _row("2024-02", 210, 20, 10)]
    rows.append(_row("2024-03", 220, 20, 10, studio_name="lotus  test YOGA"))
    with pytest.raises(ImportFailed) as failed:
        metrics_import(data=_csv(*rows))
    [problem] = failed.value.report.errors
    assert (problem.line, problem.column) == (4, "studio_name")
    assert problem.message.startswith(
        "studio 'lotus  test YOGA' would be new, but 'Lotus Test Yoga' is in the "
        "file too: the names differ only in case or spacing"
    )
    assert not Studio.objects.exists()

    metrics_import(data=_csv(*rows[:2]))
    with pytest.raises(ImportFailed) as failed:
        metrics_import(
            data=_csv(_row("2024-03", 220, 20, 10, studio_name="LOTUS TEST YOGA"))
        )
    [problem] = failed.value.report.errors
    assert "'LOTUS TEST YOGA' would be new, but 'Lotus Test Yoga' is already known" in (
        problem.message
    )
    assert list(Studio.objects.values_list("name", flat=True)) == ["Lotus Test Yoga"]
    assert MonthlyMetric.objects.count() == 2


def test_default_studio_type_applies_to_new_studios_without_one():
    data = _csv(_row("2024-01", 200, 20, 10, studio_type=""))

    metrics_import(data=data, default_studio_type="pilates")

    assert Studio.objects.get().studio_type == "pilates"


def test_dry_run_validates_and_writes_nothing():
    report = metrics_import(data=SAMPLE.read_bytes(), dry_run=True)

    assert report.created == 48
    assert Studio.objects.count() == 0


def test_command_prints_every_problem_and_fails(capsys):
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_metrics", str(ERRORS))

    err = capsys.readouterr().err
    assert "line 3, column total_members" in err
    assert "line 10, column month_year: duplicate" in err


def test_the_command_sums_up_a_slip_every_row_makes(tmp_path, capsys):
    """Cancellations written as negative numbers on every row: the first 50 lines,
    then how many more by column; --all-problems prints every one."""
    rows = [
        _row(f"{2020 + i // 12}-{i % 12 + 1:02d}", 200, 20, -20) for i in range(59)
    ] + [_row("2024-12", 200, 20, -20, total_revenue="lots")]
    path = tmp_path / "export.csv"
    path.write_text(_csv(*rows))

    with pytest.raises(CommandError, match="62 error"):
        call_command("import_metrics", str(path))
    summed = capsys.readouterr().err.splitlines()
    with pytest.raises(CommandError, match="62 error"):
        call_command("import_metrics", str(path), "--all-problems")
    every = capsys.readouterr().err.splitlines()

    assert len(summed) == 51
    # the slip named once, before the lines it makes
    assert summed[0] == (
        "error: column churned_members: every churned_members is negative or 0 "
        "(60 lines): the system seems to write cancellations as negative numbers; "
        "write them as counts (12, not -12)"
    )
    assert summed[1] == "error: line 2, column churned_members: -20 is negative"
    assert summed[-1] == (
        "... and 12 more errors (churned_members: 11, total_revenue: 1); "
        "--all-problems prints them all"
    )
    assert len(every) == 62 and "total_revenue" in every[-1]
    assert not Studio.objects.exists()


def test_command_reports_counts(capsys):
    call_command("import_metrics", str(SAMPLE))

    out = capsys.readouterr().out
    assert "48 created, 0 updated, 0 unchanged; 2 new studio(s)" in out
    assert "Ignored columns: source_system" in out


def test_admin_import_page_imports_a_valid_file(client, superuser):
    client.force_login(superuser)
    url = reverse("admin:studios_monthlymetric_import")

    with SAMPLE.open("rb") as upload:
        response = client.post(url, {"file": upload})

    assert response.status_code == 302
    assert MonthlyMetric.objects.count() == 48


def test_admin_import_page_lists_problems_and_writes_nothing(client, superuser):
    client.force_login(superuser)
    url = reverse("admin:studios_monthlymetric_import")

    with ERRORS.open("rb") as upload:
        response = client.post(url, {"file": upload})

    assert response.status_code == 200
    body = response.content.decode()
    assert "import-problems" in body and "is not a whole number" in body
    assert MonthlyMetric.objects.count() == 0


def test_admin_import_page_is_for_staff_only(client, owner):
    client.force_login(owner)

    response = client.get(reverse("admin:studios_monthlymetric_import"))

    assert response.status_code == 302  # to the admin login


def test_admin_import_page_counts_a_slip_every_row_makes(client, superuser, tmp_path):
    """The same export on the admin's page: every problem counted by column, the
    first 50 of each severity listed, the rest on request."""
    rows = [
        _row(f"{2020 + i // 12}-{i % 12 + 1:02d}", 200, 20, -20) for i in range(59)
    ] + [_row("2024-12", 200, 20, -20, total_revenue="lots")]
    path = tmp_path / "export.csv"
    path.write_text(_csv(*rows))
    client.force_login(superuser)
    url = reverse("admin:studios_monthlymetric_import")

    with path.open("rb") as upload:
        summed = client.post(url, {"file": upload})
    with path.open("rb") as upload:
        every = client.post(url, {"file": upload, "all_problems": "on"})

    by_column = summed.context["report"].by_column()
    assert [(r["column"], r["errors"], r["first_line"]) for r in by_column] == [
        ("churned_members", 61, 2),
        ("total_revenue", 1, 61),
    ]
    body = summed.content.decode()
    assert "import-problems-by-column" in body
    assert len(summed.context["shown_problems"]) == 50
    assert summed.context["hidden_problems"] == 12
    assert "and 12 more" in body
    assert "Line by line (the first 50 of each severity)" in body
    assert len(every.context["shown_problems"]) == 62
    assert every.context["hidden_problems"] == 0
    assert "import-problems-hidden" not in every.content.decode()
    assert MonthlyMetric.objects.count() == 0
