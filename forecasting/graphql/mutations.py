"""Mutations of the model registry: thin adapters over forecasting.services."""

import strawberry
import strawberry_django

from forecasting.graphql.types import ModelVersionType
from forecasting.models import ModelVersion
from forecasting.selectors import model_version_list
from forecasting.services import ActivationRefused, model_version_activate
from studiosim.graphql_errors import BadUserInput, NotFound
from studiosim.graphql_security import IsStaff

__all__ = ["Mutation"]


@strawberry.type
class Mutation:
    @strawberry_django.mutation(
        permission_classes=[IsStaff],
        description="Make a model version the one serving predictions (staff "
        "only). A version failing its activation checks needs a forceReason, "
        "which is recorded.",
    )
    def activate_model_version(
        self, id: strawberry.ID, force_reason: str = ""
    ) -> ModelVersionType:
        try:
            version = model_version_list().get(pk=int(id))
        except ValueError:
            raise BadUserInput(field="id", reason="is not a model version id") from None
        except ModelVersion.DoesNotExist:
            raise NotFound(f"No model version {id}.") from None
        try:
            return model_version_activate(version=version, force_reason=force_reason)
        except ActivationRefused as refused:
            raise BadUserInput(
                field="forceReason" if refused.failing_checks else "id",
                reason=str(refused),
                failingChecks=refused.failing_checks,
            ) from None
