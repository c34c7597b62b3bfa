"""URL map of the whole service."""

from django.urls import include, path

from cardid.api import xmlrpc
from cardid.api.rest import api
from cardid.ops import views as ops_views

handler400 = "cardid.ops.views.bad_request"

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("rpc/api/xmlrpc", xmlrpc.endpoint, name="xmlrpc"),
    path("user/", include("cardid.portal.urls")),
    path("admin/", include("cardid.console.urls")),
]
