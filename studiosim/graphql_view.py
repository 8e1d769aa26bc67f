"""The /graphql/ endpoint: the request guard, who is calling, Django's CSRF check
for sessions, and the HTTP status of what comes back."""

import logging
from typing import Any

from cross_web import HTTPException
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from strawberry.django.views import GraphQLView as StrawberryGraphQLView
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData

from studios.services import ApiTokenInvalid, api_token_authenticate
from studiosim.database import (
    DATABASE_UNAVAILABLE_MESSAGE,
    RETRY_AFTER_SECONDS,
    database_unavailable,
)
from studiosim.graphql_errors import SERVICE_UNAVAILABLE, BadUserInput, Unauthenticated
from studiosim.request_guard import (
    GraphQLPayload,
    RequestRefused,
    graphql_request_read,
)

__all__ = ["GraphQLView"]

logger = logging.getLogger("studiosim.graphql")

INVALID_TOKEN = "The API token is unknown, revoked or expired."
AUTHENTICATION_REQUIRED = (
    "Authentication required: send an API token (Authorization: Bearer <token>) "
    "or sign in."
)


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(StrawberryGraphQLView):
    """Strawberry's synchronous view (the ORM is synchronous), guarded and
    authenticated.

    - Every request first passes :func:`studiosim.request_guard.graphql_request_read`:
      a malformed one is refused with its 4xx before anything else runs, the
      database included. The payload read there is the one strawberry executes.
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
    - The database not answering, while authenticating or while resolving, is
      answered with 503, a ``Retry-After`` and one SERVICE_UNAVAILABLE error
      (:mod:`studiosim.database` bounds how long that takes to notice).

    Every answer, refusals included, is a GraphQL response in JSON: the
    strawberry view's own plain-text refusals (an unknown operation name, a
    mutation over GET) are given that shape too.
    """

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        # Read per request rather than at import, so the setting can change.
        self.graphql_ide = "graphiql" if settings.GRAPHIQL_ENABLED else None
        self.payload: GraphQLPayload | None = None

    def dispatch(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        try:
            self.payload = graphql_request_read(request)
        except RequestRefused as refused:
            return _refused(refused)
        try:
            return self._authenticated(request)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logger.warning(
                "GraphQL request refused: the database is unavailable: %s", exc
            )
            return _unavailable()

    def _authenticated(self, request: HttpRequest) -> HttpResponseBase:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            key = key.strip()
            try:
                if not (key.isascii() and key.isprintable()):
                    # Tokens are URL-safe base64; anything else is no token
                    # (and not something to hash or send to the database).
                    raise ApiTokenInvalid(INVALID_TOKEN)
                request.user = api_token_authenticate(key=key).user
            except ApiTokenInvalid as refused:
                return _unauthenticated(str(refused), challenge_error="invalid_token")
            return self._run(request)
        if request.user.is_authenticated:
            return csrf_protect(self._run)(request)
        if self.payload is None and self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            return self._run(request)
        return _unauthenticated(AUTHENTICATION_REQUIRED)

    def _run(self, request: HttpRequest) -> HttpResponseBase:
        """Strawberry's dispatch, with its refusals answered as GraphQL errors."""
        try:
            return self.run(request=request)
        except HTTPException as exc:
            return _error_response(
                exc.status_code, exc.reason, code="BAD_REQUEST", headers=_allow(exc)
            )

    def parse_http_body(self, request: Any) -> GraphQLRequestData:
        """The payload the guard read; strawberry's parser only for what the
        guard lets through without one (a GET with no query)."""
        if self.payload is None:
            return super().parse_http_body(request)
        return GraphQLRequestData(
            query=self.payload.query,
            variables=self.payload.variables,
            operation_name=self.payload.operation_name,
            extensions=self.payload.extensions,
        )

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: HttpResponse,
    ) -> HttpResponseBase:
        response = super().create_response(response_data, sub_response)
        errors = (
            response_data.get("errors") if isinstance(response_data, dict) else None
        )
        if errors and any(
            (error.get("extensions") or {}).get("code") == SERVICE_UNAVAILABLE
            for error in errors
        ):
            response.status_code = 503
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def _allow(exc: HTTPException) -> dict[str, str]:
    return {"Allow": "GET, POST"} if exc.status_code == 405 else {}


def _error_response(
    status: int,
    message: str,
    *,
    code: str,
    extensions: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """A GraphQL response holding one error and no ``data`` (nothing executed)."""
    response = JsonResponse(
        {
            "errors": [
                {"message": message, "extensions": {"code": code, **(extensions or {})}}
            ]
        },
        status=status,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _refused(refused: RequestRefused) -> JsonResponse:
    error = BadUserInput(field=refused.field, reason=refused.reason)
    headers = {"Allow": "GET, POST"} if refused.status == 405 else {}
    return _error_response(
        refused.status,
        str(error),
        code=error.extensions["code"],
        extensions={k: v for k, v in error.extensions.items() if k != "code"},
        headers=headers,
    )


def _unavailable() -> JsonResponse:
    return _error_response(
        503,
        DATABASE_UNAVAILABLE_MESSAGE,
        code=SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _unauthenticated(message: str, *, challenge_error: str = "") -> HttpResponse:
    """A 401 whose body is a GraphQL response carrying one UNAUTHENTICATED error.

    There is no ``data`` key: the operation was never executed.
    """
    challenge = 'Bearer realm="studiosim"'
    if challenge_error:
        challenge += f', error="{challenge_error}"'
    return _error_response(
        401,
        message,
        code=Unauthenticated.code,
        headers={"WWW-Authenticate": challenge},
    )
