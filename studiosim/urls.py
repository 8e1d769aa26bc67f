from django.contrib import admin
from django.urls import include, path

from exports.views import admin_export_view
from studiosim.graphql_view import GraphQLView
from studiosim.health import health
from studiosim.schema import schema

urlpatterns = [
    path(
        "admin/exports/",
        admin.site.admin_view(admin_export_view),
        name="admin-export",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("health/", health, name="health"),
    path("", include("scenarios.urls")),
    path("", include("exports.urls")),
]
