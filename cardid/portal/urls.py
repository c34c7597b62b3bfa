from django.urls import path

from cardid.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("sign-in", views.sso_start, name="sso-start"),
    path("sign-in/done", views.sso_done, name="sso-done"),
    path("number", views.number, name="number"),
    path("details", views.details, name="details"),
    path("details/number", views.change_number, name="change-number"),
    path("details/pin", views.change_pin, name="change-pin"),
    path("register", views.register_card, name="register"),
]
