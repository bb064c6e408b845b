"""Smoke test of bench.digest at tiny scale: it queues one email per user with something to act on, says
so, and leaves the database as it found it."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bench.digest import run_digest
from caseflow.calendar import LOCAL_TZ
from caseflow.extensions import db, transactional
from caseflow.models import CaseRead, OutboxMessage
from tests.factories import advance, make_case, make_procedure_case, reload

# Tuesday 24 November 2026, 08:30: a working day, the job's time.
NOW = datetime(2026, 11, 24, 8, 30, tzinfo=LOCAL_TZ)


def overdue(case):
    with transactional():
        reload(case).due_at = NOW - timedelta(days=2)


def test_digest_benchmark_queues_one_email_per_user_with_something(office):
    opened = NOW - timedelta(days=20)
    overdue(advance(make_case(office, now=opened), ["accept"], office, now=opened))  # the clerk's
    overdue(make_procedure_case(office, by="clerk2", now=opened))  # clerk2's, need-to-know
    # Recipients: supervisor, clerk, clerk2 and outsider (clerks and supervisors with an email). The clerks
    # have their overdue case, the supervisor both as his team's red cases; the outsider, elsewhere, nothing.

    figures = run_digest(users=1000, now=NOW)

    assert figures["recipients"] == 4 and figures["composed"] == 4
    assert figures["messages_queued"] == 3 and figures["job_says"].startswith("3 reminder email(s)")
    assert figures["need_to_know_reads_logged"] == 2  # the procedure case, in clerk2's and the supervisor's
    assert figures["per_user"]["count"] == 4 and figures["seconds"] > 0
    # Rolled back: the same run again finds nothing queued before it and queues the same.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead)) == 0
    assert run_digest(users=1000, now=NOW)["messages_queued"] == 3

    # Fewer users than recipients: the first ones by id (supervisor, clerk) only.
    few = run_digest(users=2, now=NOW)
    assert few["recipients"] == 2 and few["messages_queued"] == 2
