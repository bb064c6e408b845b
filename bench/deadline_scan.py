"""The deadline scan at scale (target at 1M open cases: ≤ 2 s when about 50,000 cases change light,
≤ 100 ms when none do).

    python -m bench.deadline_scan --database-url URL [--changes 50000] [--repeat 7] [--now ISO]
                                  [--from-scratch] [--profile]

On a generated database (bench.generate, e.g. ``--cases 1000000 --open-share 1``) it first puts the data
back as a scheduler running on time would have left it at the data's "now" (latest opening + 1 s, or
``--now``): every yellow and red open case remembered at its light (the red ones' deadlines recorded as
counted in their village's reminders), no reminder rows — so it can run again on the same database.
Then, each scan in its own committed transaction as the scheduler runs it
(``services.reminders.run_deadline_scan``):

1. the first scan at that instant, which settles whatever differs (nothing, on freshly settled data). With
   ``--from-scratch`` nothing is remembered: it then reminds about every yellow and red case, the backlog
   of an office whose reminders were lost (timed, no target);
2. the same scan again, ``--repeat`` times: nothing changed (median and max, ms);
3. the clock moved on to the first instant (to the minute) at which at least ``--changes`` cases have a
   worse light than the one they were reminded about (found by bisection over the scan's own conditions).
   Deadlines fall at local midnight, so that instant changes a whole lump (about a fifth of the open cases
   in generated data): all but about ``--changes`` of them (every k-th by id is left) are marked first as
   if an earlier scan had seen them, keeping the lump's mix of cases turning yellow and turning red. Then
   the timed scan: seconds, cases it marked, case reminders it created, village reminders it raised;
4. the scan again at that instant, ``--repeat`` times: nothing changed (ms).

``--profile`` prints a pyinstrument profile of step 3 instead.
"""
from __future__ import annotations

import statistics
import sys
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import make_app, parser, record, stopwatch

NAME = "deadline_scan"


def data_now() -> datetime:
    """The data's "now": its latest opening, a second later (a database generated long ago is timed as
    it was then)."""
    from caseflow.extensions import db
    from caseflow.models import Case

    latest = db.session.scalar(sa.select(sa.func.max(Case.opened_at)))
    if latest is None:
        raise SystemExit("the database has no cases: generate some with python -m bench.generate")
    return latest + timedelta(seconds=1)


def settle(now: datetime, *, from_scratch: bool = False) -> None:
    """Start again from the data as a scheduler running on time would have left it at ``now`` (as
    bench.generate writes it): every yellow or red open case remembered at its light, the red ones counted.
    The reminders themselves are deleted, so a run creates the same ones again. ``from_scratch``: nothing
    remembered, as right after the upgrade of a database whose reminders were lost (the first scan then has
    every yellow and red case to remind about)."""
    from caseflow.extensions import db, transactional
    from caseflow.models import Reminder, VillageReminder
    from caseflow.services.deadlines import LightBounds, load_calendar

    with transactional():
        db.session.execute(sa.delete(Reminder))
        db.session.execute(sa.delete(VillageReminder))
        db.session.execute(remember_lights(LightBounds.at(now, load_calendar()), from_scratch=from_scratch))
    _tidy()


def remember_lights(bounds, *, from_scratch: bool = False) -> sa.Update:
    """The UPDATE that leaves ``case_deadline`` as a scan running on time would have at ``bounds``: every
    yellow or red open case remembered at its light, the red ones counted in their villages' reminders
    (``from_scratch``: nothing remembered). Only the rows that differ are written: after a run, the cases
    that run marked. bench.generate runs it on the data it writes."""
    from caseflow.models import CaseDeadline

    marks = CaseDeadline.__table__
    remembered = sa.null() if from_scratch else sa.case(
        (marks.c.due_at < bounds.now, "red"), (marks.c.due_at <= bounds.yellow_until, "yellow"), else_=sa.null())
    counted = sa.func.coalesce(remembered == "red", sa.false())
    return (sa.update(marks).where(marks.c.reminded_light.is_distinct_from(remembered)
                                   | marks.c.red_counted.is_distinct_from(counted))
            .values(reminded_light=remembered, red_counted=counted))


def _tidy() -> None:
    """PostgreSQL: vacuum and analyze the tables a mass change touched, as autovacuum would soon after."""
    from caseflow.extensions import db

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM (ANALYZE) case_deadline, reminder, village_reminder"))


def worsened_count(now: datetime) -> int:
    """How many open cases the scan at ``now`` would read."""
    from caseflow.extensions import db
    from caseflow.services.deadlines import LightBounds, load_calendar
    from caseflow.models import CaseDeadline
    from caseflow.services.reminders import worse_than_reminded

    bounds = LightBounds.at(now, load_calendar())
    total = sum(db.session.scalar(sa.select(sa.func.count()).select_from(CaseDeadline).where(remembered, worse))
                for remembered, worse, _ in worse_than_reminded(bounds))
    db.session.rollback()
    return total


def instant_for(changes: int, after: datetime, horizon: timedelta = timedelta(days=400)) -> datetime:
    """The first instant (to the minute) after ``after`` at which at least ``changes`` open cases have a worse
    light than the one reminded about; the end of the horizon if that never happens."""
    low, high = after, after + horizon
    if worsened_count(high) < changes:
        return high
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if worsened_count(middle) >= changes:
            high = middle
        else:
            low = middle
    return high.replace(second=0, microsecond=0) + timedelta(minutes=1)


def leave_changes(now: datetime, changes: int) -> int:
    """Of the cases whose light is worse at ``now`` than remembered, mark all but about ``changes`` (every
    k-th by id) with their light at ``now``, as if an earlier scan had seen them; returns how many are left.

    Deadlines fall at the end of a local day, so lights change in lumps at midnight (a fifth of the open
    cases at once in generated data): this picks about ``changes`` of one lump, with its real mix of cases
    turning yellow and turning red."""
    from caseflow.extensions import db, transactional
    from caseflow.models import CaseDeadline
    from caseflow.services.deadlines import LightBounds, load_calendar
    from caseflow.services.reminders import worse_than_reminded

    total = worsened_count(now)
    step = max(1, total // max(changes, 1))
    if step == 1:
        return total
    bounds = LightBounds.at(now, load_calendar())
    marks = CaseDeadline.__table__
    with transactional():
        for remembered, worse, light in worse_than_reminded(bounds):
            db.session.execute(sa.update(marks).where(remembered, worse, marks.c.case_id % step != 0)
                               .values(reminded_light=light))
    _tidy()
    return worsened_count(now)


def timed_scan(now: datetime) -> tuple[float, Any]:
    """One scan in its own committed transaction, as the scheduler's job runs it."""
    from caseflow.extensions import transactional
    from caseflow.services.reminders import run_deadline_scan

    with stopwatch() as clock, transactional():
        outcome = run_deadline_scan(now)
    return clock["seconds"], outcome


def _scan_figures(seconds: float, outcome) -> dict[str, Any]:
    return {"seconds": round(seconds, 3), "cases": outcome.cases, "reminders": outcome.reminders,
            "village_reminders": outcome.village_reminders}


def _unchanged(now: datetime, repeat: int) -> dict[str, Any]:
    runs = [timed_scan(now) for _ in range(repeat)]
    ms = [seconds * 1000 for seconds, _ in runs]
    return {"median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2),
            "runs_ms": [round(m, 2) for m in ms],
            "cases": sum(o.cases for _, o in runs), "reminders": sum(o.reminders for _, o in runs),
            "village_reminders": sum(o.village_reminders for _, o in runs)}


def measure(*, changes: int = 50_000, repeat: int = 7, now: datetime | None = None,
            from_scratch: bool = False) -> dict[str, Any]:
    """Run the four steps (see the module's docstring) in the current app context; returns the figures."""
    from caseflow.extensions import db
    from caseflow.models import Case, User, UserRole

    start = now or data_now()
    settle(start, from_scratch=from_scratch)
    figures: dict[str, Any] = {
        "open_cases": db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.closed_at.is_(None))),
        "supervisors": db.session.scalar(sa.select(sa.func.count()).select_from(UserRole)
                                         .join(User, User.id == UserRole.user_id)
                                         .where(UserRole.role == "supervisor", User.active.is_(True))),
        "now": start.isoformat(), "from_scratch": from_scratch,
    }
    db.session.rollback()
    figures["first_scan"] = _scan_figures(*timed_scan(start))
    _tidy()
    figures["unchanged_scan"] = _unchanged(start, repeat)
    later = instant_for(changes, start)
    figures["changed_at"] = later.isoformat()
    figures["changing_at_that_instant"] = worsened_count(later)
    figures["changes_left"] = leave_changes(later, changes)
    figures["changed_scan"] = _scan_figures(*timed_scan(later))
    figures["unchanged_after_change"] = _unchanged(later, repeat)
    return figures


def profile_changed_scan(changes: int, now: datetime | None = None) -> None:
    """A pyinstrument profile of the scan at which about ``changes`` cases change light."""
    from pyinstrument import Profiler

    start = now or data_now()
    settle(start)
    timed_scan(start)
    later = instant_for(changes, start)
    leave_changes(later, changes)
    profiler = Profiler()
    profiler.start()
    timed_scan(later)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False))


def main(argv: list[str] | None = None) -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--changes", type=int, default=50_000,
                           help="about how many cases should change light in the timed scan (default: %(default)s)")
    arguments.add_argument("--repeat", type=int, default=7, help="scans with nothing changed (default: %(default)s)")
    arguments.add_argument("--now", type=datetime.fromisoformat,
                           help="the first scan's clock, ISO with offset (default: the latest opening + 1 s)")
    arguments.add_argument("--from-scratch", action="store_true",
                           help="start with no light remembered: the first scan reminds about every yellow and red case")
    arguments.add_argument("--profile", action="store_true", help="print a profile of the changed scan instead")
    options = arguments.parse_args(argv)
    if options.now is not None and options.now.tzinfo is None:
        raise SystemExit("--now needs a UTC offset, e.g. 2026-11-25T10:00+08:00")
    if options.changes < 1 or options.repeat < 1:
        raise SystemExit("--changes and --repeat must be at least 1")
    app = make_app(options.database_url)
    with app.app_context():
        if options.profile:
            profile_changed_scan(options.changes, options.now)
            return
        figures = measure(changes=options.changes, repeat=options.repeat, now=options.now,
                          from_scratch=options.from_scratch)
    record(NAME, options.database_url, figures | {"changes_asked": options.changes}, write=not options.no_record)


if __name__ == "__main__":
    main(sys.argv[1:])
