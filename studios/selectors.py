"""Reads of studios and everything hanging off a studio, restricted by tenancy.

Every query that returns studio data goes through :func:`restrict_to_user`: a user
sees the studios they hold a membership of; staff and superusers see all;
anonymous or inactive users see nothing.
"""

from typing import TypeVar
from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from studios.models import (
    ClassType,
    MemberCohort,
    MonthlyMetric,
    Studio,
    StudioMembership,
    StudioRole,
)

M = TypeVar("M", bound=Model)
User = AbstractBaseUser | AnonymousUser


def user_sees_all_studios(user: User | None) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_staff or user.is_superuser)
    )


def restrict_to_user(
    queryset: QuerySet[M], *, user: User | None, studio_path: str = "studio"
) -> QuerySet[M]:
    """Restrict ``queryset`` to rows whose studio the user may see.

    ``studio_path`` is the lookup from the queryset's model to its studio
    (``""`` for the Studio model itself).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user_sees_all_studios(user):
        return queryset
    prefix = f"{studio_path}__" if studio_path else ""
    return queryset.filter(**{f"{prefix}memberships__user": user}).distinct()


def studio_list(*, user: User | None) -> QuerySet[Studio]:
    return restrict_to_user(Studio.objects.all(), user=user, studio_path="")


def studio_get(*, user: User | None, studio_id: UUID | str) -> Studio:
    """The studio with ``studio_id`` if the user may see it.

    Raises ``Studio.DoesNotExist`` both when it does not exist and when the user
    may not see it, so callers cannot tell the two apart.
    """
    try:
        return studio_list(user=user).get(pk=studio_id)
    except (ValueError, TypeError, ValidationError, Studio.DoesNotExist):
        # A malformed id is answered like an unknown one.
        raise Studio.DoesNotExist(f"No studio {studio_id}.") from None


def user_can_edit_studio(*, user: User | None, studio: Studio) -> bool:
    """Owners and managers change a studio's data; viewers only read it."""
    if user_sees_all_studios(user):
        return True
    if user is None or not user.is_authenticated:
        return False
    return StudioMembership.objects.filter(
        user=user,
        studio=studio,
        role__in=[StudioRole.OWNER, StudioRole.MANAGER],
    ).exists()


def metric_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[MonthlyMetric]:
    qs = restrict_to_user(MonthlyMetric.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs


def class_type_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[ClassType]:
    qs = restrict_to_user(ClassType.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs


def cohort_list(
    *, user: User | None, studio: Studio | None = None
) -> QuerySet[MemberCohort]:
    qs = restrict_to_user(MemberCohort.objects.all(), user=user)
    return qs.filter(studio=studio) if studio is not None else qs
