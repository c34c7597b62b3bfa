"""URL map of the whole service."""

from django.urls import path

from cardid.ops import views as ops_views

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
]
