from django.urls import path

from cardid.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("number", views.number, name="number"),
    path("details", views.details, name="details"),
    path("details/number", views.change_number, name="change-number"),
    path("details/pin", views.change_pin, name="change-pin"),
    path("register", views.register_card, name="register"),
]
