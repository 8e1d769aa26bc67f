"""Writes to the model registry, training, and forward prediction."""

import calendar
import datetime as dt
import hashlib
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from forecasting.ml.checks import (
    activation_checks,
    evaluation_summary,
    latest_window,
    library_versions,
    truth_columns,
)
from forecasting.ml.exceptions import NoUsableStudioError
from forecasting.ml.frame import ANOMALY_RULE, LEVER_LABELS, LEVERS
from forecasting.ml.model import ForwardModel, StudioContext, StudioState
from forecasting.ml.sampling import stratified_studio_ids
from forecasting.models import (
    ModelVersion,
    ModelVersionStatus,
    PredictionLog,
    PredictionType,
)
from forecasting.ranges import RangeWarning, lever_ranges, range_warnings
from forecasting.registry import active_model, artifact_root, model_load
from forecasting.selectors import history_frame, history_summary
from forecasting.tracking import training_run_log
from studios.importing import parse_month
from studios.models import Studio
from studiosim import rows
from studiosim.display import currency_prefix
from studiosim.errors import InvalidInput


class ActivationRefused(Exception):
    """A model version may not become the active one."""

    def __init__(
        self,
        message: str,
        *,
        failing_checks: list[str] | None = None,
        version: "ModelVersion | None" = None,
    ):
        super().__init__(message)
        self.failing_checks = failing_checks or []
        self.version = version


ACTIVATABLE = {ModelVersionStatus.READY, ModelVersionStatus.ARCHIVED}


def model_version_activate(
    *, version: ModelVersion, force_reason: str = ""
) -> ModelVersion:
    """Make ``version`` the one active model, archiving the previous one.

    Activation is gated on the version's recorded checks (lever monotonicity,
    beating the baselines, interval coverage); a version with failing checks is
    refused unless ``force_reason`` is given, which is recorded. Rows are locked
    and the database allows at most one active version, so two concurrent
    activations cannot both succeed.
    """
    force_reason = force_reason.strip()
    try:
        with transaction.atomic():
            version = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if version.status == ModelVersionStatus.ACTIVE:
                return version
            if version.status not in ACTIVATABLE:
                raise ActivationRefused(
                    f"Version {version.version} is {version.get_status_display().lower()}; "
                    "only ready or archived versions can be activated."
                )
            failing = [
                name
                for name, check in version.checks.items()
                if not check.get("passed")
            ]
            if not version.checks:
                failing = ["no activation checks recorded (run evaluate_model)"]
            if failing and not force_reason:
                raise ActivationRefused(
                    f"Version {version.version} failed its activation checks: "
                    + "; ".join(failing)
                    + ". Activate with a recorded reason to force it.",
                    failing_checks=failing,
                    version=version,
                )
            ModelVersion.objects.select_for_update().filter(
                status=ModelVersionStatus.ACTIVE
            ).update(status=ModelVersionStatus.ARCHIVED)
            version.status = ModelVersionStatus.ACTIVE
            version.deployed_at = timezone.now()
            version.activation_forced_reason = force_reason if failing else ""
            version.save(
                update_fields=[
                    "status",
                    "deployed_at",
                    "activation_forced_reason",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        raise ActivationRefused(
            "Another model version was activated at the same time; try again."
        ) from exc
    return version


# --- training -------------------------------------------------------------------


MIN_TRAINING_WINDOW = 36


def _data_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the training frame's content, independent of row order."""
    ordered = frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return hashlib.sha256(hashes.tobytes()).hexdigest()


def _new_version_name() -> str:
    return f"fm-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def model_train(
    *,
    activate: bool = False,
    force_reason: str = "",
    include_latest_months: int | None = None,
    params: dict | None = None,
    max_studios: int | None = None,
    progress: Callable[[str], None] | None = None,
    tracking_tags: dict[str, str] | None = None,
    on_version_created: Callable[[ModelVersion], None] | None = None,
) -> ModelVersion:
    """Train a forward model on the database's data and register it.

    The version row exists from the start (status ``training``) so a failure is
    recorded (status ``failed`` and the error) rather than lost; artifacts are
    written atomically under MODEL_ARTIFACT_DIR; evaluation and the activation
    checks are stored on the row. The version is activated when ``activate`` is
    set or no version is active yet, through :func:`model_version_activate`, so
    failing checks refuse activation unless ``force_reason`` is given.

    ``include_latest_months`` limits training to each studio's latest N months
    (the split labels are recomputed on that window). A chain of more than
    ``max_studios`` studios (default ``TRAIN_MAX_STUDIOS``; none when unset)
    trains on a sample of that many, stratified by type, size and age
    (:func:`forecasting.ml.sampling.stratified_studio_ids`, chosen before any
    history is read, so only the sample's history is loaded), and is evaluated
    on it; every studio is still forecast. The learners use ``TRAIN_N_JOBS``
    threads unless ``params`` says otherwise.

    With MLFLOW_TRACKING_URI set, the outcome (ready, active or failed) is also
    logged as an MLflow run tagged with ``tracking_tags``; see
    :mod:`forecasting.tracking` (a tracking failure never fails training). ``on_version_created``
    receives the version row as soon as it exists (a retrain job records it, so
    that a version left ``training`` by a lost worker can be marked failed).
    """
    say = progress or (lambda message: None)
    if (
        include_latest_months is not None
        and include_latest_months < MIN_TRAINING_WINDOW
    ):
        # Evaluation needs 24 months before a base month for the seasonal
        # baseline, then the validation and test months.
        raise InvalidInput(
            f"include latest months must be at least {MIN_TRAINING_WINDOW}",
            field="include_latest_months",
        )
    version = ModelVersion.objects.create(
        version=_new_version_name(), status=ModelVersionStatus.TRAINING
    )
    if on_version_created is not None:
        on_version_created(version)
    try:
        say(f"Version {version.version}: reading history...")
        # A chain larger than the cap chooses its sample from one aggregate
        # query and reads only the sample's history: what training holds stops
        # growing with the chain (SPEC §15).
        summary = history_summary()
        if summary.empty:
            raise InvalidInput(
                "There is no monthly data to train on: run generate_data or "
                "import_metrics first."
            )
        if include_latest_months:
            summary["months"] = summary["months"].clip(upper=include_latest_months)
        studios = len(summary)
        say(f"  {int(summary['months'].sum())} studio-months of {studios} studios")
        params = {"n_jobs": settings.TRAIN_N_JOBS, **(params or {})}
        cap = max_studios if max_studios is not None else settings.TRAIN_MAX_STUDIOS
        chosen = stratified_studio_ids(
            summary, cap or None, seed=params.get("random_state", 0)
        )
        frame = history_frame(include_truth=True, studio_ids=chosen)
        if include_latest_months:
            frame = latest_window(frame, months=include_latest_months)
        if chosen is not None:
            say(
                f"  training on a sample of {cap} of the {studios} studios, stratified "
                "by type, size and age (TRAIN_MAX_STUDIOS); every studio is forecast"
            )
        model = ForwardModel(**params)
        started = time.perf_counter()
        say("Fitting the global model...")
        try:
            model.fit(frame.drop(columns=truth_columns(frame)))
        except NoUsableStudioError as exc:
            raise InvalidInput(
                _no_usable_studio_message(
                    exc.excluded,
                    model.min_training_months,
                    frame.groupby("unique_id").size().to_dict(),
                )
            ) from exc
        say(f"  fitted in {time.perf_counter() - started:.1f}s")
        excluded = _excluded_studios(model.excluded_)
        if excluded:
            say(f"  {len(excluded)} studio(s) left out of training:")
            for item in excluded:
                say(f"    {item['studio']}: {'; '.join(item['reasons'])}")
        say(
            "  what-if forecasts weigh the plan's own flows (the rest: the plain "
            "forecast), by month: "
            + ", ".join(
                f"{a}{'' if a == b else f'-{b}'}: {weight:.2f}"
                for a, b, weight in model.what_if_bands()
            )
        )
        widths = model.calendar_widths()
        if widths is not None:
            say(
                "  80% intervals by target month (x the year's width): "
                + ", ".join(
                    f"{calendar.month_abbr[m]} {w:.2f}"
                    for m, w in enumerate(widths, start=1)
                )
            )
        by_studio = model.studio_widths()
        if by_studio:
            names = _studio_names(by_studio)
            narrowest = min(by_studio, key=lambda uid: (by_studio[uid], names[uid]))
            widest = max(by_studio, key=lambda uid: (by_studio[uid], names[uid]))
            say(
                f"  80% intervals by studio (x the chain's width), {len(by_studio)} "
                f"studios: from {by_studio[narrowest]:.2f} ({names[narrowest]}) to "
                f"{by_studio[widest]:.2f} ({names[widest]})"
            )
        anomalous = model.anomalous_months_
        if anomalous:
            names = _studio_names(anomalous)
            say(
                f"  {sum(map(len, anomalous.values()))} month(s) treated as missing, "
                f"a typo or a closure nobody flagged ({ANOMALY_RULE}; a month flagged "
                "as an outlier in the data is left as it is):"
            )
            for uid, months in sorted(anomalous.items(), key=lambda i: names[i[0]]):
                say(f"    {names[uid]}: {', '.join(months)}")
        # Evaluation and the checks run on the studios the model learned from.
        frame = frame[~frame["unique_id"].isin(list(model.excluded_))]
        studios = frame["unique_id"].nunique()

        say("Evaluating (what-if and plain forecast; validation and test)...")
        metrics = evaluation_summary(model, frame)
        checks = activation_checks(model, frame, metrics)
        for name, check in checks.items():
            say(
                f"  check {name}: {'passed' if check['passed'] else 'FAILED'} ({check['detail']})"
            )

        say("Writing artifacts...")
        checksums = model.save(artifact_root() / version.version)
        version.artifact_path = version.version
        version.artifact_files = checksums
        version.artifact_sha256 = hashlib.sha256(
            json.dumps(checksums, sort_keys=True).encode()
        ).hexdigest()
        version.feature_names = list(model.feature_names_)
        version.params = model.get_params()
        version.library_versions = library_versions()
        version.training_data_fingerprint = _data_fingerprint(
            frame.drop(columns=truth_columns(frame))
        )
        version.training_studio_count = studios
        version.training_row_count = len(frame)
        version.excluded_studios = excluded
        version.months_covered_start = frame["ds"].min().date()
        version.months_covered_end = frame["ds"].max().date()
        version.metrics = metrics
        version.checks = checks
        version.trained_at = timezone.now()
        version.status = ModelVersionStatus.READY
        version.save()
    except Exception as exc:
        version.status = ModelVersionStatus.FAILED
        version.error_message = f"{type(exc).__name__}: {exc}"
        version.save(update_fields=["status", "error_message", "updated_at"])
        training_run_log(version=version, tags=tracking_tags)
        raise

    if activate:
        version = model_version_activate(version=version, force_reason=force_reason)
        say(f"Activated {version.version}.")
    elif not ModelVersion.objects.filter(status=ModelVersionStatus.ACTIVE).exists():
        # Nothing is active, so the new version becomes active if its checks
        # allow; a refusal here is reported, not raised: the version is ready.
        try:
            version = model_version_activate(version=version, force_reason=force_reason)
            say(f"No version was active: activated {version.version}.")
        except ActivationRefused as refused:
            say(f"Not activated: {refused}")
    run_id = training_run_log(version=version, tags=tracking_tags)
    if run_id:
        say(f"Logged MLflow run {run_id}.")
    return version


def _no_usable_studio_message(
    excluded: Mapping[str, list[str]], min_months: int, months: Mapping[str, int]
) -> str:
    """Why no studio can be trained on, every studio by name; where short
    histories are the cause, how far the longest is from enough and what to do."""
    names = _studio_names(excluded)
    listed = "; ".join(
        f"{names[uid]}: {', '.join(reasons)}"
        for uid, reasons in sorted(excluded.items(), key=lambda item: names[item[0]])
    )
    short = [uid for uid in excluded if months.get(uid, 0) < min_months]
    if not short:
        return f"no studio can be used for training: {listed}"
    longest = min(short, key=lambda uid: (-months.get(uid, 0), names[uid]))
    wait = min_months - months.get(longest, 0)
    return (
        f"no studio can be used for training. {len(short)} of the {len(excluded)} "
        f"studios have fewer than the {min_months} months of data a studio needs to "
        "be trained on (its last 12 are held out to validate and test the model); "
        f"the longest, {names[longest]}, has {months.get(longest, 0)}: import the "
        "studios' earlier months if their system kept them, or train again in "
        f"{wait} month{'s' if wait != 1 else ''}. Each studio: {listed}"
    )


def _studio_names(uids) -> dict[str, str]:
    """Each studio id's name (the id itself for one not in the database)."""
    names = dict(Studio.objects.filter(pk__in=list(uids)).values_list("pk", "name"))
    named = {str(pk): name for pk, name in names.items()}
    return {str(uid): named.get(str(uid), str(uid)) for uid in uids}


def _excluded_studios(excluded: Mapping[str, list[str]]) -> list[dict]:
    """The model's left-out studios, named, for the version row and the operator."""
    names = _studio_names(excluded)
    return sorted(
        (
            {"studio_id": uid, "studio": names.get(uid, uid), "reasons": reasons}
            for uid, reasons in excluded.items()
        ),
        key=lambda item: item["studio"],
    )


def model_evaluate(*, version: ModelVersion) -> dict:
    """Re-evaluate a stored version on the database's current data; stores the result."""
    model = model_load(version)
    frame = history_frame(include_truth=True)
    if frame.empty:
        raise InvalidInput("There is no monthly data to evaluate on.")
    metrics = evaluation_summary(model, frame)
    version.metrics = metrics
    version.checks = activation_checks(model, frame, metrics)
    version.save(update_fields=["metrics", "checks", "updated_at"])
    return metrics


# --- forward prediction (SPEC §4) -----------------------------------------------

#: Valid range of each lever (inclusive) for a studio of SPEC §2's sizes, in
#: dollars. A lever may leave the range the model was trained on (the structural
#: core extrapolates), but not its valid range; an amount's (see AMOUNT_LEVERS)
#: stretches with the studio (:func:`lever_bounds`).
LEVER_BOUNDS: dict[str, tuple[float, float]] = {
    "retention_rate": (0.0, 1.0),
    "avg_ticket_price": (0.0, 5000.0),
    "class_attendance_rate": (0.0, 1.0),
    "new_members_monthly": (0.0, 5000.0),
    "staff_utilization_rate": (0.0, 1.0),
    "upsell_rate": (0.0, 1.0),
    "total_classes_held": (0.0, 5000.0),
}
COVERAGE_BOUNDS = (0.5, 0.99)
#: Levers counted in the studio's own units (its currency, people, classes),
#: whose scale is the studio's: a ticket of 24,000 yen is an ordinary one, and
#: a studio may run forty times the classes of another.
AMOUNT_LEVERS: tuple[str, ...] = (
    "avg_ticket_price",
    "new_members_monthly",
    "total_classes_held",
)
#: An amount lever may be set up to this many times the studio's own base-month
#: value where that is above LEVER_BOUNDS' ceiling.
AMOUNT_REACH = 10.0
#: The studio SPEC §2 describes, per amount lever (the top of its ranges): the
#: size the tactics catalogue's typical improvements and the inverse's default
#: steps are written for.
REFERENCE_SIZE: dict[str, float] = {
    "avg_ticket_price": 300.0,
    "new_members_monthly": 50.0,
    "total_classes_held": 400.0,
}


def lever_scale(lever: str, value: float | None) -> float:
    """How many times REFERENCE_SIZE a studio at ``value`` of ``lever`` is: at
    least 1 (a smaller studio is sized as the reference), 1 for a rate or an
    unknown value. A ticket of 24,000 yen is 80: a step of $20 there is 1,600 yen.
    """
    size = REFERENCE_SIZE.get(lever)
    if size is None or value is None or not math.isfinite(value):
        return 1.0
    return max(1.0, float(value) / size)


def by_lever(values: Any) -> Mapping[str, float | None]:
    """Lever values as a mapping of lever to value: ``values`` as it is when it
    is one already, else the seven in LEVERS order (an array, NaN where unknown)."""
    if isinstance(values, Mapping):
        return values
    return dict(zip(LEVERS, np.asarray(values, float).tolist(), strict=True))


def lever_bounds(base_levers: Any = None) -> dict[str, tuple[float, float]]:
    """Each lever's valid range for a studio whose base month ran ``base_levers``.

    ``base_levers`` holds the seven levers in LEVERS order (NaN where the studio
    has no data on one), a mapping of lever to value (None where unknown), or
    None for no studio. Rates stay in [0, 1]. An amount's ceiling is
    LEVER_BOUNDS' or AMOUNT_REACH times the studio's own value, whichever is
    higher, so that a studio priced in yen or forty times the usual size is not
    refused its own figures while a typo several zeros long still is; with no
    studio (``None``) an amount has no ceiling: only a studio can say what is
    out of its scale.
    """
    if base_levers is None:
        return {
            lever: (low, math.inf) if lever in AMOUNT_LEVERS else (low, high)
            for lever, (low, high) in LEVER_BOUNDS.items()
        }
    base_levers = by_lever(base_levers)
    bounds = dict(LEVER_BOUNDS)
    for lever in AMOUNT_LEVERS:
        value = base_levers.get(lever)
        if value is not None and math.isfinite(value):
            low, high = LEVER_BOUNDS[lever]
            bounds[lever] = (low, max(high, AMOUNT_REACH * float(value)))
    return bounds


@dataclass(frozen=True)
class LeverNote:
    """A lever the answer treats specially, and why (e.g. not modelled)."""

    lever: str
    reason: str


def levers_not_modelled(state: StudioState) -> list[LeverNote]:
    """The levers the model cannot move for this studio, each with the reason.

    A lever is not modelled when the studio has no data on it in the 12 months up
    to the base month, or when its data leaves the revenue formula's constant it
    acts through at 0 (upsell without upsell revenue; attendance and classes when
    no revenue goes with attendance). Forecasts hold such a lever at its base
    value, the optimizer locks it, and lever impact marks it.
    """
    notes = []
    for i, lever in enumerate(LEVERS):
        if state.known[i]:
            continue
        label = LEVER_LABELS[lever]
        if not state.has_data[i]:
            reason = (
                f"no {label} data in the 12 months up to the base month, so the "
                "model cannot tell what changing it would do"
            )
        elif lever == "upsell_rate":
            reason = (
                "no upsell revenue is reported, so what an upselling member is worth "
                "here is unknown"
            )
        elif lever == "avg_ticket_price":
            reason = "no membership revenue is recorded against the ticket price"
        else:
            reason = (
                f"none of this studio's recorded revenue goes with class attendance, "
                f"so {label} does not move its forecast"
            )
        notes.append(
            LeverNote(lever=lever, reason=f"Not modelled for this studio: {reason}.")
        )
    return notes


def base_lever_values(state: StudioState) -> dict[str, float | None]:
    """The base month's lever values; None for a lever the studio has no data on."""
    return {
        lever: float(value) if has else None
        for lever, value, has in zip(LEVERS, state.levers, state.has_data, strict=True)
    }


@dataclass(frozen=True)
class MonthForecast:
    month: int
    month_year: dt.date
    revenue: float
    member_count: float
    retention_rate: float
    lower: float | None
    upper: float | None
    confidence_score: float


@dataclass(frozen=True)
class ForecastOutput:
    studio_id: str
    base_month: dt.date
    projection_months: int
    coverage: float
    levers: dict[str, float | None]
    base_levers: dict[str, float | None]
    predictions: list[MonthForecast]
    total_projected_revenue: float
    growth_rate: float
    model_version: str
    prediction_accuracy: dict[str, float | None]
    not_modelled_levers: list[LeverNote] = field(default_factory=list)
    #: Lever values outside the studio's own history or its peers' range.
    warnings: list[RangeWarning] = field(default_factory=list)
    #: What looks wrong with the base month's figures (StudioContext.base_month_notes).
    base_month_notes: list[str] = field(default_factory=list)
    prediction_id: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready (dates as ISO strings); what the cache and the log store."""
        data = asdict(self)
        data["base_month"] = self.base_month.isoformat()
        for month in data["predictions"]:
            month["month_year"] = month["month_year"].isoformat()
        return data


def parse_base_month(value: str | dt.date, *, field: str = "base_month") -> dt.date:
    if isinstance(value, dt.date):
        return value.replace(day=1)
    try:
        return parse_month(str(value))
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None


def _plain(value: float) -> str:
    """A number as a person writes it: ``1.5``, ``92``, ``29,070,000``."""
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def validate_levers(
    levers: Mapping[str, float] | None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Known lever names and values within ``bounds``, else InvalidInput.

    ``bounds`` is a studio's :func:`lever_bounds`; by default, those of no studio
    (rates in [0, 1], amounts at least 0 with no ceiling).
    """
    bounds = lever_bounds() if bounds is None else bounds
    clean: dict[str, float] = {}
    for name, value in (levers or {}).items():
        if value is None:
            continue
        if name not in LEVER_BOUNDS:
            raise InvalidInput(
                f"unknown lever {name!r}; levers are {', '.join(LEVERS)}", field=name
            )
        low, high = bounds[name]
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInput(f"{name} must be a number", field=name)
        if not low <= value <= high:
            if high == 1.0:
                what = "a fraction in [0, 1]"
            elif not math.isfinite(high):
                what = f"at least {low:g}"
            elif high > LEVER_BOUNDS[name][1]:
                what = (
                    f"between {_plain(low)} and {_plain(high)}, {AMOUNT_REACH:g} "
                    "times this studio's own"
                )
            else:
                what = f"between {_plain(low)} and {_plain(high)}"
            raise InvalidInput(
                f"{name} is {_plain(value)}; it must be {what}", field=name
            )
        clean[name] = float(value)
    return clean


_STATE_CACHE_STUDIOS = 4096
_state_cache: OrderedDict[tuple, StudioContext | None] = OrderedDict()
_state_lock = threading.Lock()


def _studio_context(
    model: ForwardModel, version_id: int, studio: Studio
) -> StudioContext | None:
    """A studio's model context, computed once per data version (None: no data).

    The context holds the features of every month; a base month's state (the
    learners' part) is built the first time it is asked for and kept with it. The
    key holds the model version and the studio's ``data_version`` (bumped by every
    write to its metrics), so a new model or new data never reuses a stale
    context; least recently used studios are dropped beyond 4,096.
    """
    key = (version_id, studio.pk, studio.data_version)
    with _state_lock:
        if key in _state_cache:
            _state_cache.move_to_end(key)
            return _state_cache[key]
    history = history_frame(studio_ids=[studio.pk])
    context = None if history.empty else model.studio_context(history)
    with _state_lock:
        _state_cache[key] = context
        while len(_state_cache) > _STATE_CACHE_STUDIOS:
            _state_cache.popitem(last=False)
    return context


def clear_state_cache() -> None:
    with _state_lock:
        _state_cache.clear()


def studio_state(
    *, model: ForwardModel, version_id: int, studio: Studio, base_month: dt.date
) -> StudioState:
    """The model's context for a studio at a base month, or InvalidInput saying why."""
    context = _studio_context(model, version_id, studio)
    if context is None:
        reason = "it has no monthly data yet"
    else:
        state = context.state(base_month)
        if state is not None:
            return state
        reason = context.why_not(base_month)
    raise InvalidInput(
        f"{studio.name} cannot be forecast from {base_month:%Y-%m}: {reason}",
        field="base_month",
    )


#: A studio whose data ends this many months or more before the latest month the
#: model was trained on is named as behind (base_month_notes).
STALE_MONTHS = 2


def base_month_notes(
    *, model: ForwardModel, version_id: int, studio: Studio, base_month: dt.date
) -> list[str]:
    """What looks wrong with a base month's revenue or member count (a typo, a
    month not recorded), which the forecast starts from as it stands; and a
    studio's latest month that is :data:`STALE_MONTHS` or more behind the
    chain's (its export stopped: the forecast is of months already past).

    The chain's latest month is the last the model was trained on (no query, and
    an answer cached for the model version stays true for it)."""
    context = _studio_context(model, version_id, studio)
    if context is None:
        return []
    notes = context.base_month_notes(base_month, currency_prefix(studio.currency))
    own = context.latest_month
    trained_to = getattr(model, "training_summary_", {}).get("months_end")
    if trained_to and own == pd.Timestamp(base_month):
        chain = pd.Timestamp(trained_to)
        behind = (chain.year - own.year) * 12 + chain.month - own.month
        if behind >= STALE_MONTHS:
            notes.append(
                f"{studio.name}'s data ends in {own:%Y-%m}, {behind} months before "
                f"the chain's latest month ({chain:%Y-%m}, the last the model was "
                "trained on): the forecast is of months already past for the other "
                "studios. Import its recent months; a studio that has closed can be "
                "left as it is"
            )
    return notes


def _prediction_accuracy(version: ModelVersion) -> dict[str, float | None]:
    """The version's measured test accuracy at horizon 1 (plain forecast)."""
    headline = (version.metrics or {}).get("headline", {})
    return {
        "mape": headline.get("test_mape_h1"),
        "rmse": headline.get("test_rmse_h1"),
        "r2": headline.get("test_r2_h1"),
        "directional_accuracy": headline.get("test_directional_accuracy_h1"),
        "interval_coverage": headline.get("test_coverage_h1"),
    }


def forecast_predict(
    *,
    studio: Studio,
    base_month: str | dt.date,
    levers: Mapping[str, float] | None = None,
    months: int = 3,
    coverage: float = 0.8,
    include_intervals: bool = True,
    user=None,
    log: bool = True,
) -> ForecastOutput:
    """Revenue, members and retention for the next ``months`` under a lever plan.

    Levers not given keep the base month's values, so an empty plan is the
    status-quo forecast. A lever not modelled for the studio (see
    :func:`levers_not_modelled`) is held at its base value whatever the plan
    says, and listed in ``not_modelled_levers`` with the reason. Raises InvalidInput (naming the field) for a projection
    outside 1-12 months, a coverage outside [0.5, 0.99], an unknown or
    out-of-range lever, or a base month without history; NoActiveModel when no
    model version is active. Writes one PredictionLog row when ``log`` is set.
    """
    if not isinstance(months, int) or not 1 <= months <= 12:
        raise InvalidInput(
            f"projection months must be between 1 and 12, not {months}",
            field="projection_months",
        )
    if not COVERAGE_BOUNDS[0] <= coverage <= COVERAGE_BOUNDS[1]:
        raise InvalidInput(
            f"coverage must be between {COVERAGE_BOUNDS[0]} and {COVERAGE_BOUNDS[1]}",
            field="coverage",
        )
    base = parse_base_month(base_month)
    validate_levers(levers)
    loaded = active_model()
    state = studio_state(
        model=loaded.model, version_id=loaded.version.pk, studio=studio, base_month=base
    )
    # An amount's ceiling is the studio's own scale (lever_bounds).
    base_levers = base_lever_values(state)
    plan = validate_levers(levers, lever_bounds(base_levers))
    not_modelled = levers_not_modelled(state)
    held = {note.lever for note in not_modelled}
    used = {
        **base_levers,
        **{name: value for name, value in plan.items() if name not in held},
    }
    result = loaded.model.predict(
        state,
        np.array([used[name] or 0.0 for name in LEVERS]),
        months,
        coverage,
    )

    predictions = [
        MonthForecast(
            month=h + 1,
            month_year=result.months[h].date(),
            revenue=round(float(result.revenue[0, h]), 2),
            member_count=round(float(result.members[0, h]), 1),
            retention_rate=float(result.retention[0, h]),
            lower=round(float(result.revenue_lower[0, h]), 2)
            if include_intervals
            else None,
            upper=round(float(result.revenue_upper[0, h]), 2)
            if include_intervals
            else None,
            confidence_score=round(float(result.confidence[0, h]), 4),
        )
        for h in range(months)
    ]
    output = ForecastOutput(
        studio_id=str(studio.pk),
        base_month=base,
        projection_months=months,
        coverage=coverage,
        levers=used,
        base_levers=base_levers,
        predictions=predictions,
        total_projected_revenue=round(float(result.total_revenue[0]), 2),
        growth_rate=float(result.growth_rate[0]),
        model_version=loaded.version.version,
        prediction_accuracy=_prediction_accuracy(loaded.version),
        not_modelled_levers=not_modelled,
        warnings=range_warnings(
            used,
            lever_ranges(studio=studio, base_month=base),
            currency=studio.currency,
        ),
        base_month_notes=base_month_notes(
            model=loaded.model,
            version_id=loaded.version.pk,
            studio=studio,
            base_month=base,
        ),
    )
    if log:
        output = prediction_log_write(
            studio=studio,
            prediction_type=PredictionType.FORWARD,
            model_version_id=loaded.version.pk,
            base_month=base,
            months=months,
            inputs={"levers": plan, "coverage": coverage},
            output=output,
            confidence=float(np.mean(result.confidence[0])),
            user=user,
        )
    return output


def prediction_log_write(
    *,
    studio: Studio,
    prediction_type: str,
    model_version_id: int,
    base_month: dt.date,
    months: int,
    inputs: dict,
    output,
    output_json: dict | None = None,
    confidence: float | None,
    user=None,
):
    """One INSERT recording a served prediction; returns the output with its id.

    ``output_json`` is ``output.as_dict()`` when the caller has it already (a
    cached answer is stored as that JSON), so it is not rebuilt. Every served
    prediction writes this row, so its INSERT is written once (see
    :mod:`studiosim.rows`; PredictionLog has no signal receivers or ``save()``
    override for it to skip).
    """
    log = PredictionLog(
        studio=studio,
        prediction_type=prediction_type,
        model_version_id=model_version_id,
        base_month=base_month,
        projection_months=months,
        inputs=inputs,
        outputs=output.as_dict() if output_json is None else output_json,
        confidence=None if confidence is None else min(1.0, max(0.0, confidence)),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    rows.insert(log, connections[DEFAULT_DB_ALIAS])
    return replace(output, prediction_id=str(log.pk))
