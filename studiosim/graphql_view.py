"""The /graphql/ endpoint: who is calling, and Django's CSRF check for sessions."""

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from strawberry.django.views import GraphQLView as StrawberryGraphQLView

from studios.services import ApiTokenInvalid, api_token_authenticate
from studiosim.graphql_errors import BadUserInput, Unauthenticated

__all__ = ["GraphQLView"]

AUTHENTICATION_REQUIRED = (
    "Authentication required: send an API token (Authorization: Bearer <token>) "
    "or sign in."
)


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(StrawberryGraphQLView):
    """Strawberry's synchronous view (the ORM is synchronous), authenticated.

    - ``Authorization: Bearer <token>``: the request acts as the token's user. A
      token that is unknown, revoked or expired is refused with 401, never treated
      as anonymous. These requests skip the CSRF check: a browser never attaches a
      bearer token by itself, so another site cannot forge one.
    - Otherwise the Django session (the admin, GraphiQL), with Django's CSRF check
      applied exactly as ``CsrfViewMiddleware`` applies it everywhere else. Other
      ``Authorization`` schemes are ignored: a browser may send Basic credentials
      by itself, so they must neither authenticate nor skip the check.
    - Nobody signed in: every operation gets 401 and an UNAUTHENTICATED error
      before it is even parsed; only the GraphiQL page itself is served. (With no
      session there is nothing for a forged request to abuse, so the CSRF check
      would only hide the real problem.)
    """

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        # Read per request rather than at import, so the setting can change.
        self.graphql_ide = "graphiql" if settings.GRAPHIQL_ENABLED else None

    def dispatch(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        if _carries_nul(request):
            return _nul_refused()
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                request.user = api_token_authenticate(key=key.strip()).user
            except ApiTokenInvalid as refused:
                return _unauthenticated(str(refused), challenge_error="invalid_token")
            return super().dispatch(request, *args, **kwargs)
        if request.user.is_authenticated:
            return csrf_protect(super().dispatch)(request, *args, **kwargs)
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return super().dispatch(request, *args, **kwargs)
        return _unauthenticated(AUTHENTICATION_REQUIRED)


def _carries_nul(request: HttpRequest) -> bool:
    """Whether any text in the request holds U+0000, which PostgreSQL cannot store
    or compare in text: refused once here rather than in every resolver."""
    if request.method == "GET":
        return any("\x00" in value for value in request.GET.values())
    if request.content_type != "application/json" or b"\\u0000" not in request.body:
        return False
    try:
        return _has_nul(json.loads(request.body))
    except ValueError:
        return False  # strawberry answers malformed JSON itself


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _nul_refused() -> HttpResponse:
    error = BadUserInput(field="request", reason="text may not contain U+0000 (NUL)")
    return JsonResponse(
        {"errors": [{"message": str(error), "extensions": error.extensions}]},
        status=400,
    )


def _unauthenticated(message: str, *, challenge_error: str = "") -> HttpResponse:
    """A 401 whose body is a GraphQL response carrying one UNAUTHENTICATED error.

    There is no ``data`` key: the operation was never executed.
    """
    error = Unauthenticated(message)
    response = JsonResponse(
        {"errors": [{"message": message, "extensions": error.extensions}]},
        status=401,
    )
    challenge = 'Bearer realm="studiosim"'
    if challenge_error:
        challenge += f', error="{challenge_error}"'
    response["WWW-Authenticate"] = challenge
    return response
