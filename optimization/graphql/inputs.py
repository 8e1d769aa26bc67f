"""GraphQL inputs of inverse prediction."""

import strawberry

from forecasting.graphql.types import LeverEnum, LeversInput
from optimization.graphql.types import TargetKindEnum
from optimization.services import CurveSpec, InverseConstraints
from studiosim.graphql_errors import BadUserInput
from studiosim.graphql_scalars import Money

__all__ = [
    "CurrentStateInput",
    "InverseConstraintsInput",
    "InversePredictionInput",
    "LeverCurveInput",
]


@strawberry.input(
    name="LeverCurveInput",
    description="Which response curves leverImpactAnalysis draws: each modelled "
    "lever from fromPct to toPct of today's value in evenly spaced steps, clipped "
    "to the lever's valid range. `curve: {}` draws -20%..+20% in 9 steps.",
)
class LeverCurveInput:
    from_pct: float = strawberry.field(
        default=-0.2,
        description="Lowest change, a fraction of today's value, -1..1 (-0.2 is "
        "20% below it).",
    )
    to_pct: float = strawberry.field(
        default=0.2, description="Highest change, -1..1, above fromPct."
    )
    steps: int = strawberry.field(
        default=9, description="Points per curve, 3..41, ends included."
    )

    def to_spec(self) -> CurveSpec:
        return CurveSpec(from_pct=self.from_pct, to_pct=self.to_pct, steps=self.steps)


#: Each maximum-increase field and the lever it limits.
MAX_INCREASE_FIELDS = {
    "max_retention_increase": "retention_rate",
    "max_ticket_increase": "avg_ticket_price",
    "max_attendance_increase": "class_attendance_rate",
    "max_new_members_increase": "new_members_monthly",
    "max_staff_utilization_increase": "staff_utilization_rate",
    "max_upsell_increase": "upsell_rate",
    "max_classes_increase": "total_classes_held",
}


@strawberry.input(
    name="CurrentStateInput",
    description="Today's plan, where it differs from the base month's records: "
    "levers left out keep their base-month values.",
)
class CurrentStateInput(LeversInput):
    current_member_count: int | None = strawberry.field(
        default=None,
        description="Members today (>= 0). Checked and recorded with the "
        "prediction, but the model starts from the member count on record for "
        "the base month.",
    )


@strawberry.input(
    name="InverseConstraintsInput",
    description="What the owner allows. Maximum increases are in each lever's own "
    "unit (retention +0.05, ticket +$20, new members +10 a month); a lever "
    "without one may move by a default step (retention 0.05, ticket 20, "
    "attendance 0.10, new members 10, staff utilisation 0.10, upsell 0.10, "
    "classes 40, for a studio up to a 300 ticket, 50 new members and 400 classes "
    "a month; a larger studio's, or one priced in a currency of smaller units, in "
    "proportion: a 24,000-yen ticket moves by up to 1,600). Levers may also decrease by the same default steps unless "
    "maxDecreases says otherwise. Bounds are hard in both directions: a bound "
    "that excludes today's value moves the lever into it, and is refused when a "
    "lock or the maximum change that way keeps it out of reach.",
)
class InverseConstraintsInput:
    max_retention_increase: float | None = None
    max_ticket_increase: Money | None = None
    max_new_members_increase: float | None = strawberry.field(
        default=None, description="In new members per month (may be fractional)."
    )
    max_attendance_increase: float | None = None
    max_upsell_increase: float | None = None
    max_staff_utilization_increase: float | None = None
    max_classes_increase: float | None = None
    max_decreases: LeversInput | None = strawberry.field(
        default=None,
        description="Largest decrease allowed per lever, in the lever's own unit "
        "(retention 0.02 = two points, ticket $10, new members 5 a month; >= 0, "
        "0 forbids any decrease); levers left out keep the default step.",
    )
    lower_bounds: LeversInput | None = strawberry.field(
        default=None,
        description="Hard lower bounds per lever. A bound above today's value "
        "raises the lever to it, even where that costs revenue.",
    )
    upper_bounds: LeversInput | None = strawberry.field(
        default=None,
        description="Hard upper bounds per lever (by default retention 0.99, "
        "attendance and staff utilisation 0.98, which never move a lever already "
        "above them). A bound below today's value lowers the lever to it, even "
        "where that costs revenue.",
    )
    locked_levers: list[LeverEnum] = strawberry.field(
        default_factory=list, description="Levers to keep at today's values."
    )
    allow_beyond_peers: bool = strawberry.field(
        default=False,
        description="Let the plan take a lever beyond the range studios of the "
        "same type and currency run (5th to 95th percentile of their months; see "
        "RangeWarning). "
        "Off, no lever goes further outside that range than today's value; on, "
        "each such value comes with a warning saying so.",
    )
    prioritize_low_cost_levers: bool = strawberry.field(
        default=False,
        description="Choose the plan whose catalogue tactics cost the least money "
        "a month (see tacticCost) instead of the one that moves levers least; "
        "among plans of equal tactic cost the least change wins. Decreases need "
        "no tactic. No plan keeps a change that adds no revenue.",
    )

    def to_constraints(self) -> InverseConstraints:
        max_increase = {}
        for field, lever in MAX_INCREASE_FIELDS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if value < 0:
                raise BadUserInput(
                    field=f"constraints.{field}",
                    reason="must not be negative (it is the largest increase allowed)",
                )
            max_increase[lever] = value
        max_decrease = (self.max_decreases or LeversInput()).as_dict()
        for lever, value in max_decrease.items():
            if value < 0:
                raise BadUserInput(
                    field=f"constraints.maxDecreases.{lever}",
                    reason="must not be negative (it is the largest decrease allowed)",
                )
        return InverseConstraints(
            max_increase=max_increase,
            max_decrease=max_decrease,
            lower_bounds=(self.lower_bounds or LeversInput()).as_dict(),
            upper_bounds=(self.upper_bounds or LeversInput()).as_dict(),
            locked_levers=tuple(sorted({lever.value for lever in self.locked_levers})),
            prioritize_low_cost=self.prioritize_low_cost_levers,
            allow_beyond_peers=self.allow_beyond_peers,
        )


@strawberry.input(name="InversePredictionInput")
class InversePredictionInput:
    studio_id: strawberry.ID
    base_month: str | None = strawberry.field(
        default=None,
        description='The month of data the plan starts from, "YYYY-MM"; by default '
        "the studio's latest month.",
    )
    target_revenue: Money = strawberry.field(description="The revenue to reach (> 0).")
    target_months: int = strawberry.field(
        default=3, description="The horizon in months after the base month, 1-12."
    )
    target_kind: TargetKindEnum = strawberry.field(
        default=TargetKindEnum.MONTH,
        description="Whether the target is month targetMonths' revenue or the "
        "total over the horizon.",
    )
    target_probability: float | None = strawberry.field(
        default=None,
        description="Reach the target with this probability (0.05-0.99, e.g. 0.8) "
        "under the model's uncertainty, instead of only in expectation: the "
        "calibrated distribution the forecast intervals come from, widened by the "
        "error of the model's lever responses, which grows with how far the plan "
        "lifts revenue above the status quo. The plan is sized so that the revenue "
        "the studio reaches or beats with this probability meets the target. "
        "Revenue figures of the answer are then at that probability, except "
        "expectedRevenue and monthlyRevenue.",
    )
    current_state: CurrentStateInput | None = None
    constraints: InverseConstraintsInput | None = None
