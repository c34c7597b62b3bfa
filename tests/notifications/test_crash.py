"""A sender killed in the middle of a batch: nothing is lost, little is sent twice."""

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from cardid.cards import generation
from cardid.notifications import services
from cardid.notifications.models import OutboxMessage
from tests.factories import ADMIN, make_user
from tests.mailserver import MailServer, configure_smtp

pytestmark = pytest.mark.django_db(transaction=True)


def test_killed_sender_loses_nothing_and_resends_at_most_the_unrecorded_few(subprocess_env):
    server = MailServer().start()
    server.faults.delay = 0.02  # slow enough to kill the sender half-way
    try:
        configure_smtp(server.port)
        users = [make_user() for _ in range(60)]
        generation.generate(
            selection=generation.Selection(all=True),
            slot="primary",
            replace=False,
            actor=ADMIN,
            notify=True,
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "cardid", "notifications", "send-pending"],
            env=subprocess_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(server.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 20 <= len(server.received) < 60
        # The killed sender's claim runs out (two minutes later, in real life).
        OutboxMessage.objects.filter(status="pending").update(lease_until="2000-01-01T00:00Z")
        server.faults.delay = 0
        services.deliver_due()
        assert OutboxMessage.objects.filter(status="sent").count() == 60
        per_user = Counter(m.recipients[0] for m in server.received)
        assert set(per_user) == {u.email for u in users}
        resent = sum(n - 1 for n in per_user.values())
        # Only messages accepted but not yet recorded when the kill came can go out twice,
        # and those carry the same Message-ID both times.
        assert resent <= services.MARK_EVERY
        ids = Counter(m.message["Message-ID"] for m in server.received)
        assert len(ids) == 60
    finally:
        server.stop()
