"""Who may call what on /graphql/, and how much one request may ask for.

The limits are schema extensions built afresh for every request (classes or
factories, never shared instances); each refusal is a visible GraphQL error.

What one document may cost is bounded before it is validated, because
validation itself is what a cheap-looking document can make expensive:
graphql-core compares every pair of fields with one response name
(``OverlappingFieldsCanBeMergedRule``), so a few hundred copies of ``id``,
within the token limit, cost most of a second. :class:`DocumentChecks` counts
a document's fields (fragments expanded) and estimates its cost (each field
times the list sizes above it, the model-running fields weighted by what they
cost) and refuses it over :data:`MAX_FIELDS` or :data:`MAX_QUERY_COST`
(``bench/query_cost.py`` measures what the limits allow). It also refuses a
document of several operations without an ``operationName``, which the
GraphQL specification requires and strawberry does not enforce.

Parsing and validating a document costs more than answering a cached prediction,
and clients send the same few query texts over and over (variables carry what
changes), so both steps are cached per process with strawberry's
``ParserCache`` and ``ValidationCache``. The validation cache is keyed by the
document *and the rule classes*; the limit rules are therefore classes built once
per pair of limits, not per request (strawberry's limiters build a new class per
instance, which would make every request a miss).
"""

import functools
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
)
from graphql.validation import (
    ASTValidationRule,
    NoSchemaIntrospectionCustomRule,
)
from strawberry import UNSET
from strawberry.extensions import (
    AddValidationRules,
    FieldExtension,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.permission import BasePermission
from strawberry.types import Info
from strawberry_django.pagination import OffsetPaginationInput

from studiosim.graphql_errors import BadUserInput, Forbidden
from studiosim.graphql_floats import BoundedFloatLiterals, float_variables_error
from studiosim.request_guard import unstorable_text

__all__ = [
    "LIMIT_EXTENSIONS",
    "MAX_ALIASES",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_DEPTH",
    "MAX_TOKENS",
    "DOCUMENT_CACHE_SIZE",
    "MAX_FIELDS",
    "MAX_QUERY_COST",
    "DocumentChecks",
    "DocumentLimits",
    "IsStaff",
    "PageSizeLimit",
    "StorableStrings",
    "document_cost",
]

# The deepest selection the schema serves today has depth 3 (studios > results >
# monthlyMetrics > field, counted from 0); 8 leaves room for growth while a
# cycle, once the schema has one, cannot be followed far.
MAX_QUERY_DEPTH = 8
# Each alias can repeat an expensive field (a baseline, a prediction).
MAX_ALIASES = 10
# The full introspection query is about 300 tokens.
MAX_TOKENS = 2000
MAX_PAGE_SIZE = 100
#: Field selections in one document, fragments expanded. The largest a client
#: needs is GraphiQL's introspection query (about 150); past 250 the pairwise
#: comparison of fields in validation starts to cost tens of milliseconds.
MAX_FIELDS = 250
#: The estimated cost of one document: each field selected counts 1 times the
#: size of every list above it (plus 1 per list item, the object resolved), and
#: a field that runs the model counts as :data:`FIELD_COSTS` says. A unit is
#: about what a plain field of a list costs to resolve: 50 to 250 microseconds
#: on the 2-core machine ``bench/query_cost.py`` ran on (quiet to loaded), so
#: the limit keeps a document to roughly a quarter of a second to a second.
MAX_QUERY_COST = 5_000
#: Fields whose resolver runs the forecasting model or the solver, in units,
#: from ``bench/query_cost.py`` (uncached answers, rounded up): at most four
#: forward predictions, two inverse ones or one lever analysis per document.
FIELD_COSTS = {
    "forwardPrediction": 1_000,
    "inversePrediction": 2_000,
    "leverImpactAnalysis": 3_000,
    "generateInsights": 2_000,
    "studioBaseline": 400,
    "compareScenarios": 400,
    "modelPerformance": 400,
}
#: Sizes assumed for lists whose length no argument states: a studio's months
#: (ten years), its class types.
LIST_SIZES = {"monthlyMetrics": 120, "cohorts": 120, "classTypes": 20}
# Distinct query texts whose parsed document and validation result each process
# keeps (least recently used first out). A frontend sends a few dozen; a text is
# at most MAX_TOKENS tokens, so the caches stay small whatever clients send.
DOCUMENT_CACHE_SIZE = 256


@functools.cache
def _limit_rules(
    max_depth: int, max_aliases: int
) -> tuple[type[ASTValidationRule], ...]:
    """The rule classes of strawberry's limiters, made once per pair of limits
    (see the module docstring)."""
    return (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    )


class StorableStrings(ASTValidationRule):
    """Refuse string literals PostgreSQL cannot store or compare and no UTF-8
    encoder accepts: U+0000 and lone surrogates, written as ``\\u`` escapes
    inside the document (the request guard has checked the JSON around it)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        reason = unstorable_text(node.value)
        if reason is not None:
            self.report_error(GraphQLError(f"String literal: {reason}.", node))


class DocumentLimits(AddValidationRules):
    """Depth and alias limits, storable string literals, and no ``__schema`` or
    ``__type`` unless ``GRAPHIQL_ENABLED`` is on.

    The limits and the setting are read per request, so they follow the
    environment (and tests); the rules are the same classes every time for the
    same limits, so validation results stay cacheable.
    """

    def __init__(self) -> None:
        introspection = (
            [] if settings.GRAPHIQL_ENABLED else [NoSchemaIntrospectionCustomRule]
        )
        super().__init__(
            [
                *_limit_rules(MAX_QUERY_DEPTH, MAX_ALIASES),
                StorableStrings,
                BoundedFloatLiterals,
                *introspection,
            ]
        )


class _TooCostly(Exception):
    pass


# Costs are clamped here (nested lists multiply), which is far above any limit.
_COST_CAP = 10**12


def document_cost(document: DocumentNode, *, max_fields: int) -> tuple[int, int]:
    """``(fields, cost)`` of ``document``'s operations, fragments expanded.

    Counting stops with ``fields`` above ``max_fields``. Runs before validation,
    so it is safe on any parsed document: a fragment spread inside itself (a
    cycle, which validation refuses) counts nothing the second time, and each
    fragment is counted once and its totals reused.
    """
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, tuple[int, int]] = {}
    expanding: set[str] = set()

    def selections(node: SelectionSetNode | None) -> tuple[int, int]:
        fields = cost = 0
        for selection in node.selections if node else ():
            if isinstance(selection, FieldNode):
                name = selection.name.value
                child_fields, child_cost = selections(selection.selection_set)
                fields += 1 + child_fields
                # Each item of a list costs one more than its fields: the
                # object resolved for it.
                cost += FIELD_COSTS.get(name, 1) + _list_size(selection) * (
                    child_cost + (1 if selection.selection_set else 0)
                )
                cost = min(cost, _COST_CAP)
            elif isinstance(selection, InlineFragmentNode):
                child_fields, child_cost = selections(selection.selection_set)
                fields += child_fields
                cost = min(cost + child_cost, _COST_CAP)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in memo:
                    if name in expanding or name not in fragments:
                        continue
                    expanding.add(name)
                    memo[name] = selections(fragments[name].selection_set)
                    expanding.discard(name)
                fields += memo[name][0]
                cost = min(cost + memo[name][1], _COST_CAP)
            if fields > max_fields:
                raise _TooCostly
        return fields, cost

    fields = cost = 0
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operation_fields, operation_cost = selections(definition.selection_set)
                fields += operation_fields
                cost = min(cost + operation_cost, _COST_CAP)
                if fields > max_fields:
                    raise _TooCostly
    except _TooCostly:
        return max_fields + 1, cost
    return fields, cost


def _list_size(field: FieldNode) -> int:
    """How many items ``field``'s selection is resolved for, at most."""
    name = field.name.value
    arguments = {a.name.value: a.value for a in field.arguments or ()}
    if "pagination" in arguments:
        page = arguments["pagination"]
        limit = (
            next((f.value for f in page.fields if f.name.value == "limit"), None)
            if isinstance(page, ObjectValueNode)
            else None
        )
        return _int_literal(limit, MAX_PAGE_SIZE)
    if name in ("studios", "modelVersions"):
        return MAX_PAGE_SIZE
    if name == "scenarios":
        return _int_literal(arguments.get("pageSize"), 20)
    if name == "retrainJobs":
        return _int_literal(arguments.get("limit"), 20)
    if name == "monthlyMetrics" and "lastMonths" in arguments:
        return _int_literal(arguments["lastMonths"], LIST_SIZES["monthlyMetrics"])
    if name == "compareScenarios":
        ids = arguments.get("ids")
        return len(ids.values) if isinstance(ids, ListValueNode) else 10
    return LIST_SIZES.get(name, 1)


def _int_literal(node: Any, default: int) -> int:
    """A literal's value, clamped to [1, MAX_PAGE_SIZE] (larger pages are
    refused anyway); ``default`` for a variable or anything else."""
    if isinstance(node, IntValueNode):
        try:
            return min(max(int(node.value), 1), MAX_PAGE_SIZE)
        except ValueError:
            return default
    return default


class DocumentChecks(ValidationCache):
    """Before validation: the operation to run is named when there are several,
    and the document is within :data:`MAX_FIELDS` and :data:`MAX_QUERY_COST`.
    Then validation, cached per document (strawberry's ``ValidationCache``).
    Before execution: every ``Float`` in the variables is within range
    (:mod:`studiosim.graphql_floats`).

    These checks are not cached with the validation result: they depend on the
    request's ``operationName`` and variables, and the limits are read per
    request.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.variables:
            name = context._provided_operation_name
            operation = next(
                (
                    d
                    for d in document.definitions
                    if isinstance(d, OperationDefinitionNode)
                    and (name is None or (d.name and d.name.value == name))
                ),
                None,
            )
            if operation is not None:
                error = float_variables_error(
                    context.schema._schema, operation, context.variables
                )
                if error is not None:
                    raise error
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        error = None
        if document is not None:
            # The name the request gave: ``operation_name`` falls back to the
            # first operation's, which is what must not happen silently.
            error = _operation_name_missing(document, context._provided_operation_name)
            if error is None:
                fields, cost = document_cost(document, max_fields=MAX_FIELDS)
                if fields > MAX_FIELDS:
                    error = GraphQLError(
                        f"The document selects more than {MAX_FIELDS} fields "
                        "(fragments expanded); split it into several requests."
                    )
                elif cost > MAX_QUERY_COST:
                    error = GraphQLError(
                        f"The document's estimated cost is {cost:,}, above the "
                        f"limit of {MAX_QUERY_COST:,}: ask for smaller pages "
                        "(pagination, lastMonths) or fewer predictions at once."
                    )
        if error is not None:
            context.pre_execution_errors = [error]
            yield
            return
        yield from super().on_validate()


def _operation_name_missing(
    document: DocumentNode, operation_name: str | None
) -> GraphQLError | None:
    operations = [
        d for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    if len(operations) > 1 and operation_name is None:
        return GraphQLError(
            "Must provide operation name if query contains multiple operations."
        )
    return None


LIMIT_EXTENSIONS: list[Callable[[], SchemaExtension]] = [
    lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    DocumentLimits,
    lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
    lambda: DocumentChecks(maxsize=DOCUMENT_CACHE_SIZE),
]


class PageSizeLimit(FieldExtension):
    """Refuse pages over :data:`MAX_PAGE_SIZE` and negative offsets.

    A too-large page is refused rather than silently trimmed, so a client never
    mistakes a trimmed page for the whole list; no limit means
    :data:`MAX_PAGE_SIZE`, whatever the library's default.
    """

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        pagination = kwargs.get("pagination") or OffsetPaginationInput()
        if pagination.limit in (None, UNSET):
            pagination.limit = MAX_PAGE_SIZE
        elif not 1 <= pagination.limit <= MAX_PAGE_SIZE:
            raise BadUserInput(
                field="pagination.limit",
                reason=f"must be between 1 and {MAX_PAGE_SIZE}",
            )
        if pagination.offset < 0:
            raise BadUserInput(field="pagination.offset", reason="must not be negative")
        return next_(source, info, **{**kwargs, "pagination": pagination})


class IsStaff(BasePermission):
    """Staff and superusers only; anyone else gets FORBIDDEN."""

    message = "Only staff may do this."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = info.context.request.user
        return bool(user.is_active and (user.is_staff or user.is_superuser))

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message)
