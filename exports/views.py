"""Exports as downloads: a URL for BI tools, and a page in the admin.

``GET /exports/<dataset>.<format>`` streams a dataset to any signed-in user
(session, or ``Authorization: Bearer <token>`` as for the GraphQL API), restricted
to the studios that user may see: Power BI's "Web" source and Tableau can refresh
from it with a token header. ``/admin/exports/`` is the staff page: pick a dataset
and a format (or come from the studio list's "Export selected studios" action) and
the file downloads as it is written.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_http_methods

from exports.datasets import DATASETS
from exports.services import Export, export_open
from exports.writers import FORMATS
from studios.services import ApiTokenInvalid, api_token_authenticate
from studiosim.errors import DomainError

__all__ = ["admin_export_view", "export_download", "export_page"]


def _streamed(export: Export) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _refusal(error: DomainError) -> JsonResponse:
    status = 404 if error.code == "NOT_FOUND" else 400
    return JsonResponse(
        {"error": {"code": error.code, "field": error.field, "message": error.message}},
        status=status,
    )


@require_GET
def export_download(
    request: HttpRequest, dataset: str, format: str
) -> HttpResponseBase:
    """Stream ``dataset`` as ``format`` for the caller (``?studio=`` narrows it)."""
    user = request.user
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        try:
            user = api_token_authenticate(key=key.strip()).user
        except ApiTokenInvalid as refused:
            return JsonResponse(
                {"error": {"code": "UNAUTHENTICATED", "message": str(refused)}},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="studiosim"'},
            )
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        return JsonResponse(
            {
                "error": {
                    "code": "UNAUTHENTICATED",
                    "message": "Send an API token (Authorization: Bearer <token>) "
                    "or sign in.",
                }
            },
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="studiosim"'},
        )
    try:
        export = export_open(
            dataset=dataset,
            format=format,
            user=user,
            studios=request.GET.getlist("studio"),
        )
    except DomainError as error:
        return _refusal(error)
    return _streamed(export)


@require_http_methods(["GET", "POST"])
def admin_export_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The admin's export page; a POST with dataset and format downloads the file.

    Wrapped by ``admin.site.admin_view`` in the URLconf (staff only), and still
    restricted by the tenancy rule, under which staff see every studio.
    """
    data = request.POST if request.method == "POST" else request.GET
    studios = [s for s in data.getlist("studio") if s.strip()]
    error = None
    if request.method == "POST" and "dataset" in data:
        try:
            export = export_open(
                dataset=data.get("dataset", ""),
                format=data.get("format", ""),
                user=request.user,
                studios=studios,
            )
        except DomainError as refused:
            error = refused.message
        else:
            return _streamed(export)
    return export_page(request, studios=studios, error=error)


def export_page(
    request: HttpRequest, *, studios: list[str], error: str | None = None
) -> TemplateResponse:
    """The admin's export form for ``studios`` (all when empty)."""
    context = {
        **admin.site.each_context(request),
        "title": "Export data",
        "datasets": list(DATASETS.values()),
        "formats": list(FORMATS),
        "studios": studios,
        "error": error,
    }
    return TemplateResponse(
        request, "admin/exports/export.html", context, status=400 if error else 200
    )
