from django.contrib import admin
from django.urls import include, path

from studiosim.graphql_view import GraphQLView
from studiosim.health import health
from studiosim.schema import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("health/", health, name="health"),
    path("", include("scenarios.urls")),
]

handler500 = "studiosim.database.server_error"
