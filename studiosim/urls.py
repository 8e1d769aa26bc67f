from django.contrib import admin
from django.urls import include, path

from exports.views import admin_export_view
from studiosim.graphql_view import GraphQLView
from studiosim.health import health
from studiosim.schema import schema

# The app list is on the admin's index and in its breadcrumbs; without the nav
# sidebar a changelist gets its 270 px back and fits 1366 px beside its filters.
admin.site.enable_nav_sidebar = False
admin.site.site_header = "studiosim administration"
admin.site.site_title = "studiosim administration"
admin.site.index_title = "Studios, models and scenarios"

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
    path("", include("web.urls")),
]

handler500 = "studiosim.database.server_error"
