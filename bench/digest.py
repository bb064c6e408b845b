"""The daily reminder email for 1,000 users (target: ≤ 30 s to compose and queue).

    python -m bench.digest --database-url URL [--users 1000] [--now ISO-TIME] [--profile]

Runs the job's service, ``services.digests.send_daily_digests``, on a generated database (bench.generate)
for one working day: every recipient's email is composed (its sections queried, rendered in text and HTML)
and queued in the outbox, with the reads of need-to-know cases it lists. Timed: compose and queue,
flushed to the database; not SMTP delivery, which the outbox does later, one message at a time.

The day is the first working day after the data's "now" (its latest opening), at 08:30 as scheduled, or
``--now``. With more recipients in the database than ``--users``, the others are taken off the list (their
daily-email setting turned off) for the run. Everything happens in one transaction that is rolled back at
the end, so the database is left as it was and the benchmark can run again.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import latency_summary, make_app, parser, record, stopwatch

NAME = "digest"
TARGET_SECONDS = 30.0


def digest_time(calendar) -> datetime:
    """08:30 office time on the first working day after the data's latest opening."""
    from caseflow.calendar import LOCAL_TZ, local_date
    from caseflow.extensions import db
    from caseflow.models import Case

    latest = db.session.scalar(sa.select(sa.func.max(Case.opened_at)))
    if latest is None:
        raise SystemExit("the database has no cases: generate some with python -m bench.generate")
    day = local_date(latest) + timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 8, 30, tzinfo=LOCAL_TZ)


def run_digest(users: int = 1000, now: datetime | None = None, profile: bool = False) -> dict[str, Any]:
    """In the current app context: send the day's digests to at most ``users`` recipients, measure, and
    roll everything back. Returns the figures."""
    from caseflow.calendar import local_date
    from caseflow.extensions import db
    from caseflow.models import CaseRead, OutboxMessage, User
    from caseflow.services import digests
    from caseflow.services.deadlines import load_calendar

    calendar = load_calendar()
    now = now or digest_time(calendar)
    day = local_date(now)
    try:
        recipients = [user.id for user in digests.digest_recipients()]
        if len(recipients) > users:
            db.session.execute(sa.update(User).where(User.id.in_(recipients[users:])).values(daily_digest=False))
        recipients = recipients[:users]
        db.session.expire_all()  # every object is loaded afresh by the run, as in the job's own transaction

        per_user: list[float] = []
        queue_digest = digests.queue_digest

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return queue_digest(*args, **kwargs)
            finally:
                per_user.append(time.perf_counter() - started)

        digests.queue_digest = timed
        profiler = None
        if profile:
            from pyinstrument import Profiler
            profiler = Profiler()
            profiler.start()
        try:
            with stopwatch() as took:
                message = digests.send_daily_digests(now)
                db.session.flush()
        finally:
            digests.queue_digest = queue_digest
            if profiler is not None:
                profiler.stop()
        queued = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.key.like(f"digest:{day.isoformat()}:user:%"))) or 0
        listed_reads = db.session.scalar(sa.select(sa.func.count()).select_from(CaseRead)
                                         .where(CaseRead.what == "digest", CaseRead.at == now)) or 0
    finally:
        db.session.rollback()
    if profiler is not None:
        print(profiler.output_text(unicode=True, color=False))
    return {
        "now": now.isoformat(), "recipients": len(recipients), "composed": len(per_user),
        "messages_queued": queued, "need_to_know_reads_logged": listed_reads, "job_says": message,
        "seconds": round(took["seconds"], 2), "per_user": latency_summary(per_user),
        "target_seconds": TARGET_SECONDS, "meets_target": took["seconds"] <= TARGET_SECONDS,
    }


def main() -> None:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--users", type=int, default=1000, help="recipients at most (default 1000)")
    arguments.add_argument("--now", type=datetime.fromisoformat,
                           help="the job's time, with its UTC offset (default: 08:30 on the first working day "
                                "after the data's latest opening)")
    arguments.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the run")
    args = arguments.parse_args()
    if args.now is not None and args.now.tzinfo is None:
        raise SystemExit("--now needs a UTC offset, e.g. 2026-11-24T08:30+08:00")
    app = make_app(args.database_url)
    with app.app_context():
        figures = run_digest(args.users, args.now, profile=args.profile)
    record(NAME, args.database_url, figures, write=not args.no_record)
    print(f"\n{figures['messages_queued']} messages for {figures['recipients']} recipients in {figures['seconds']} s "
          f"(target {TARGET_SECONDS:.0f} s); per user p95 {figures['per_user']['p95_ms']} ms")


if __name__ == "__main__":
    main()
