"""Studios, their monthly history, class types, cohorts and who may see them.

Money is stored as ``Decimal`` with two places in the studio's currency (USD by
default); rates are fractions in [0, 1], enforced by the database.
"""

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


def _rate_check(field: str, *, nullable: bool = True) -> models.CheckConstraint:
    in_range = Q(**{f"{field}__gte": 0}) & Q(**{f"{field}__lte": 1})
    if nullable:
        in_range |= Q(**{f"{field}__isnull": True})
    return models.CheckConstraint(condition=in_range, name=f"%(class)s_{field}_0_1")


def _non_negative_check(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": 0}) | Q(**{f"{field}__isnull": True}),
        name=f"%(class)s_{field}_gte_0",
    )


class StudioType(models.TextChoices):
    YOGA = "yoga", "Yoga"
    PILATES = "pilates", "Pilates"
    CROSSFIT = "crossfit", "CrossFit"
    WELLNESS = "wellness", "Wellness"
    BOUTIQUE_FITNESS = "boutique_fitness", "Boutique Fitness"


class Studio(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    studio_type = models.CharField(max_length=32, choices=StudioType.choices)
    # Blank until staff fill it in: an export rarely says where a studio is.
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    opening_date = models.DateField(null=True, blank=True)
    square_footage = models.PositiveIntegerField(null=True, blank=True)
    max_capacity = models.PositiveIntegerField(
        help_text="People per class in the largest room; the denominator of the "
        "class attendance rate."
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[
            RegexValidator(
                r"^[A-Z]{3}$",
                "An ISO 4217 code: three capital letters, such as USD, EUR or JPY.",
            )
        ],
        help_text="Its money's currency (ISO 4217, such as USD, EUR, JPY): amounts "
        "are written in it, and its peers are the studios of its type in the same one.",
    )
    # Bumped by every write to the studio's monthly data, so cached predictions
    # keyed on it never outlive the data they were computed from.
    data_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # Peers are the studios of one type: baselines, lever impact
            # analysis and its cache key select them on every uncached request.
            models.Index(fields=["studio_type"], name="studio_type_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_capacity__gte=1), name="studio_max_capacity_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def location(self) -> str:
        return ", ".join(part for part in (self.city, self.state) if part)


class StudioRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    VIEWER = "viewer", "Viewer"


class StudioMembership(models.Model):
    """Grants a user access to one studio; the only source of tenancy."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="studio_memberships",
    )
    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(
        max_length=16, choices=StudioRole.choices, default=StudioRole.VIEWER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "studio"], name="unique_membership_per_user_studio"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.studio} ({self.get_role_display()})"


class OutlierReason(models.TextChoices):
    NONE = "", "—"
    PANDEMIC = "pandemic", "Pandemic"
    CLOSURE = "closure", "Facility closure"
    PROMOTION = "promotion", "Major promotion"
    OTHER = "other", "Other"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"
    TEST = "test", "Test"


MONEY = {"max_digits": 12, "decimal_places": 2}

RATE_FIELDS = (
    "retention_rate",
    "class_attendance_rate",
    "staff_utilization_rate",
    "upsell_rate",
)
MONEY_FIELDS = (
    "avg_ticket_price",
    "membership_revenue",
    "class_pack_revenue",
    "intro_offer_revenue",
    "retail_revenue",
    "upsell_revenue",
    "total_revenue",
)


class MonthlyMetric(models.Model):
    """One studio's numbers for one calendar month (``month_year`` is its 1st day)."""

    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, related_name="monthly_metrics"
    )
    month_year = models.DateField()

    total_members = models.PositiveIntegerField()
    new_members = models.PositiveIntegerField()
    churned_members = models.PositiveIntegerField()
    retention_rate = models.FloatField(null=True, blank=True)
    avg_ticket_price = models.DecimalField(**MONEY)
    total_classes_held = models.PositiveIntegerField()
    total_class_attendance = models.PositiveIntegerField()
    class_attendance_rate = models.FloatField(null=True, blank=True)
    staff_count = models.PositiveIntegerField(null=True, blank=True)
    staff_utilization_rate = models.FloatField(null=True, blank=True)

    membership_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    class_pack_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    intro_offer_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    retail_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    upsell_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    total_revenue = models.DecimalField(**MONEY)

    intro_offer_conversions = models.PositiveIntegerField(null=True, blank=True)
    upsell_rate = models.FloatField(null=True, blank=True)
    average_member_lifetime_months = models.FloatField(null=True, blank=True)

    is_outlier = models.BooleanField(default=False)
    outlier_reason = models.CharField(
        max_length=16, choices=OutlierReason.choices, blank=True, default=""
    )
    split = models.CharField(
        max_length=12,
        choices=Split.choices,
        default=Split.TRAIN,
        editable=False,
        help_text="Position in the studio's history: last 6 months test, the 6 "
        "before validation, the rest train. Recomputed on every import.",
    )
    # Noise-free values the demo generator drew around (evaluation truth only,
    # never a model feature); empty for real data.
    expected_values = models.JSONField(default=dict, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    RATE_FIELDS = RATE_FIELDS
    MONEY_FIELDS = MONEY_FIELDS

    class Meta:
        ordering = ["studio", "-month_year"]
        get_latest_by = "month_year"
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "month_year"], name="unique_metric_per_studio_month"
            ),
            *(_rate_check(f) for f in RATE_FIELDS),
            *(_non_negative_check(f) for f in MONEY_FIELDS),
            models.CheckConstraint(
                condition=Q(average_member_lifetime_months__gte=0)
                | Q(average_member_lifetime_months__isnull=True),
                name="monthlymetric_lifetime_gte_0",
            ),
        ]
        indexes = [
            models.Index(
                fields=["studio", "-month_year"], name="metric_studio_month_desc_idx"
            ),
            models.Index(fields=["split"], name="metric_split_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.studio} · {self.month_year:%Y-%m}"


class ClassType(models.Model):
    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, related_name="class_types"
    )
    class_name = models.CharField(max_length=100)
    class_price = models.DecimalField(**MONEY)
    max_capacity = models.PositiveIntegerField()
    avg_attendance_rate = models.FloatField()

    class Meta:
        ordering = ["studio", "class_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "class_name"], name="unique_class_name_per_studio"
            ),
            models.CheckConstraint(
                condition=Q(max_capacity__gte=1), name="classtype_max_capacity_gte_1"
            ),
            _non_negative_check("class_price"),
            _rate_check("avg_attendance_rate", nullable=False),
        ]

    def __str__(self) -> str:
        return f"{self.class_name} ({self.studio})"


class MemberCohort(models.Model):
    """Members who joined in one month and how many were still there later."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="cohorts")
    join_month = models.DateField()
    cohort_size = models.PositiveIntegerField()
    retention_month_1 = models.FloatField(null=True, blank=True)
    retention_month_3 = models.FloatField(null=True, blank=True)
    retention_month_6 = models.FloatField(null=True, blank=True)
    retention_month_12 = models.FloatField(null=True, blank=True)
    avg_ltv = models.DecimalField(**MONEY, null=True, blank=True)

    class Meta:
        ordering = ["studio", "-join_month"]
        constraints = [
            models.UniqueConstraint(
                fields=["studio", "join_month"], name="unique_cohort_per_studio_month"
            ),
            *(_rate_check(f"retention_month_{m}") for m in (1, 3, 6, 12)),
            _non_negative_check("avg_ltv"),
        ]

    def __str__(self) -> str:
        return f"{self.studio} · cohort {self.join_month:%Y-%m}"


class ApiToken(models.Model):
    """A bearer token for the GraphQL API, acting as its user.

    Only the SHA-256 of the token is stored: the plaintext is shown once, when
    the token is created, and cannot be recovered. ``key_prefix`` (its first
    characters) lets people tell their tokens apart in the admin.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, e.g. the app using it."
    )
    key_prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Leave empty for a token that never expires."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"
