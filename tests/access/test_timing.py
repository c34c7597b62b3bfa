"""Log-in answers take the same time whether the account exists, has a local password, or
not (SPEC §9): one password check in every case. Each attempt comes from its own address,
so the guard's locks stay out of the way."""

import statistics
import time

import pytest
from django.test import Client

from cardid.directory import services as directory
from tests.factories import ADMIN, make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
ROUNDS = 9


def medians(path: str, cases: dict[str, str]) -> dict[str, float]:
    """The median time of a wrong password for each case's username; the cases take turns
    (so that a busy moment of the machine touches them alike), after one warm-up round."""
    times: dict[str, list[float]] = {case: [] for case in cases}
    address = iter(range(10, 250))
    for round_ in range(ROUNDS + 1):
        for case, username in cases.items():
            client = Client(REMOTE_ADDR=f"127.0.1.{next(address)}")
            started = time.perf_counter()
            r = client.post(path, {"username": username, "password": "wrong guess"})
            elapsed = time.perf_counter() - started
            assert r.status_code in (200, 400) and b"wrong" in r.content
            if round_:
                times[case].append(elapsed)
    return {case: statistics.median(t) for case, t in times.items()}


def assert_within(found: dict[str, float], share: float = 0.3) -> None:
    low, high = min(found.values()), max(found.values())
    assert high <= low * (1 + share), found


def test_portal_log_in_time_tells_nothing_about_the_account():
    make_user(username="nopass")
    make_user(username="haspass")
    directory.set_password(username="haspass", password=PASSWORD, actor=ADMIN)
    found = medians(
        "/user/login",
        {
            "unknown user": "ghost",
            "user without a local password": "nopass",
            "user with a local password": "haspass",
        },
    )
    assert_within(found)


def test_console_log_in_time_tells_nothing_about_the_account(django_user_model):
    django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)
    make_user(username="holder")  # a card holder, not an administrator
    found = medians(
        "/admin/login",
        {"unknown name": "ghost", "a card holder's name": "holder", "an administrator": "boss"},
    )
    assert_within(found)
