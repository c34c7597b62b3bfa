"""URL map of the whole service."""

from django.urls import include, path
from django.views.generic import RedirectView

from cardid.api import xmlrpc
from cardid.api.rest import api
from cardid.ops import views as ops_views

handler400 = "cardid.ops.views.bad_request"

urlpatterns = [
    # The address people are given is the server's: it leads to their portal.
    path("", RedirectView.as_view(url="/user/", permanent=False)),
    path("healthz", ops_views.healthz, name="healthz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("branding/logo", ops_views.logo, name="logo"),
    path("api/v1/", api.urls),
    path("rpc/api/xmlrpc", xmlrpc.endpoint, name="xmlrpc"),
    path("user/", include("cardid.portal.urls")),
    path("admin/", include("cardid.console.urls")),
    # The language switch on every page (Django's set_language: a POST, then back).
    path("i18n/", include("django.conf.urls.i18n")),
]
