"""Fixtures of the console tests: an administrator and a client logged in as them."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_account():
    return get_user_model().objects.create_user(
        "root-admin", password=PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def console(admin_account):
    c = Client()
    r = c.post("/admin/login", {"username": "root-admin", "password": PASSWORD})
    assert r.status_code == 302
    return c
