"""The monthly meeting report and the dashboard at scale (target: the report at 1M cases and 3M events in
≤ 2 s on SQLite, ≤ 1 s on PostgreSQL; the dashboard page's figures likewise).

    python -m bench.report --database-url URL [--month YYYY-MM] [--township ID] [--repeat N] [--profile]
                           [--password PASSWORD | --password none]

On a generated database (bench.generate) it times, for one township (default: the one with the most cases)
and one month (default: the latest full month of the data):

- ``compute_month_report`` (the figures): the first call in the process (cold-ish: the workflow policy and
  calendar caches are empty, the database's own caches are whatever they are) and the median of warm repeats;
- ``generate_report``: the figures stored as the month's ``Report`` and flushed, rolled back after each run,
  so the database is left as it was;
- ``report_xlsx``: the workbook built from the stored figures;
- ``dashboard_figures`` for a supervisor of the township: the default 12 months ending with the data's
  current month, first call and warm median;
- the dashboard page itself (GET /dashboard through the app, signed in as that supervisor with the generated
  users' password; its period is the one ending with the real current month), first request and median.

"Now" is the data's: the latest opening in the database, so a database generated some time ago is timed as
it was then. ``--profile`` prints a pyinstrument profile of one warm report and one warm dashboard.
"""
from __future__ import annotations

import re
import statistics
import sys
from datetime import datetime, timedelta
from html import unescape
from typing import Any, Callable

import sqlalchemy as sa

from bench.common import make_app, parser, record, stopwatch

NAME = "report"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    with stopwatch() as clock:
        result = call()
    return clock["seconds"], result


def _summary(first: float | None, warm: list[float]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if first is not None:
        figures["first_s"] = round(first, 3)
    figures["median_s"] = round(statistics.median(warm), 3) if warm else None
    figures["runs_s"] = [round(s, 3) for s in warm]
    return figures


def data_now() -> datetime:
    """The data's "now": its latest opening (indexed), a second later."""
    from caseflow.extensions import db
    from caseflow.models import Case

    latest = db.session.scalar(sa.select(sa.func.max(Case.opened_at)))
    if latest is None:
        raise SystemExit("the database has no cases: generate some with python -m bench.generate")
    return latest + timedelta(seconds=1)


def pick_township(township_id: int | None):
    """The township asked for, or the one whose villages hold the most cases."""
    from caseflow.extensions import db
    from caseflow.models import Case, Jurisdiction

    if township_id is not None:
        township = db.session.get(Jurisdiction, township_id)
        if township is None or township.kind != "township":
            raise SystemExit(f"no township with id {township_id}")
        return township
    village = sa.orm.aliased(Jurisdiction)
    busiest = db.session.execute(
        sa.select(village.parent_id, sa.func.count()).select_from(Case)
        .join(village, village.id == Case.jurisdiction_id)
        .where(village.kind == "village").group_by(village.parent_id)
        .order_by(sa.func.count().desc(), village.parent_id).limit(1)).first()
    if busiest is None:
        raise SystemExit("no case belongs to a village")
    return db.session.get(Jurisdiction, busiest[0])


def pick_supervisor(township):
    """An active supervisor holding ``township`` (they generate its report and see its dashboard)."""
    from caseflow.extensions import db
    from caseflow.models import User, UserRole, user_jurisdiction

    user = db.session.scalar(
        sa.select(User).join(UserRole, UserRole.user_id == User.id)
        .join(user_jurisdiction, user_jurisdiction.c.user_id == User.id)
        .where(UserRole.role == "supervisor", User.active.is_(True),
               user_jurisdiction.c.jurisdiction_id == township.id)
        .order_by(User.id).limit(1))
    if user is None:
        raise SystemExit(f"no active supervisor holds township {township.code}")
    return user


def _headline(data: dict[str, Any]) -> dict[str, Any]:
    """The report's township totals, for reading the output and for the smoke test."""
    keys = ("received", "accepted", "finished", "finished_on_time", "open_at_end", "yellow_at_end",
            "red_at_end")
    return {
        "workflows": {wf["workflow"]: {k: wf["total"][k] for k in keys} | {
            "supplement_requests": wf["supplement_requests"], "appeals": wf["appeals"],
            "refusals": sum(r["count"] for r in wf["refusals"])} for wf in data["workflows"]},
        "subsidy": data["subsidy"]["total"] | {"reconfirmation": data["subsidy"]["reconfirmation"]},
        "fee_case": data["fee_case"],
        "ratings": data["ratings"].get("count"),
    }


def run(*, month: str | None = None, township_id: int | None = None, repeat: int = 3,
        profile: bool = False) -> dict[str, Any]:
    """Time the report and the dashboard (inside an app context); the figures and what they were of.

    Nothing is committed: each ``generate_report`` is rolled back.
    """
    from caseflow.extensions import db
    from caseflow.models import Case, CaseEvent
    from caseflow.services import dashboard
    from caseflow.services.report_figures import compute_month_report, parse_month
    from caseflow.services.reports import generate_report, previous_month, report_xlsx
    from caseflow.calendar import local_date

    now = data_now()
    month = parse_month(month) if month else previous_month(local_date(now))
    township = pick_township(township_id)
    supervisor = pick_supervisor(township)
    scale = {"cases": db.session.scalar(sa.select(sa.func.count()).select_from(Case)),
             "events": db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)),
             "township_cases": db.session.scalar(
                 sa.select(sa.func.count()).select_from(Case)
                 .where(Case.jurisdiction_id.in_([v.id for v in township.children])))}
    repeat = max(1, repeat)
    db.session.rollback()

    # The figures: first call in this process, then warm repeats.
    first, data = _timed(lambda: compute_month_report(township, month))
    db.session.rollback()
    warm = []
    for _ in range(repeat):
        seconds, data = _timed(lambda: compute_month_report(township, month))
        warm.append(seconds)
        db.session.rollback()

    # Generated and stored (flushed), then undone.
    generated, xlsx_runs, xlsx_bytes = [], [], 0
    generate_now = max(now, datetime.now(now.tzinfo))
    for _ in range(repeat):
        # Inside a savepoint of our own: on SQLite (pysqlite starts no transaction before the first write)
        # generate_report's own savepoint would otherwise be the transaction, and releasing it would commit.
        undo = db.session.begin_nested()
        seconds, report = _timed(lambda: generate_report(township, month, supervisor, now=generate_now))
        generated.append(seconds)
        seconds, book = _timed(lambda: report_xlsx(report, "zh"))
        xlsx_runs.append(seconds)
        xlsx_bytes = len(book)
        undo.rollback()
        db.session.rollback()

    # The dashboard: the default period (12 months ending with the data's current month).
    period = dashboard.default_period(now)
    board_first, board = _timed(lambda: dashboard.dashboard_figures(supervisor, township, period, now))
    db.session.rollback()
    board_warm = []
    for _ in range(repeat):
        seconds, board = _timed(lambda: dashboard.dashboard_figures(supervisor, township, period, now))
        board_warm.append(seconds)
        db.session.rollback()

    if profile:
        _profile(lambda: compute_month_report(township, month), "compute_month_report")
        _profile(lambda: dashboard.dashboard_figures(supervisor, township, period, now), "dashboard_figures")
        db.session.rollback()

    return {
        "scale": scale,
        "now": now.isoformat(),
        "township": {"id": township.id, "code": township.code},
        "month": month,
        "supervisor": supervisor.username,
        "compute_month_report": _summary(first, warm),
        "generate_report": _summary(None, generated),
        "report_xlsx": _summary(None, xlsx_runs) | {"bytes": xlsx_bytes},
        "dashboard": _summary(board_first, board_warm) | {"months": [m.month for m in period.months]},
        "report": _headline(data),
        "dashboard_trend": [{"month": m.month.month} | m.figures() for m in board.trend],
    }


def time_page(app, township_id: int, username: str, password: str, repeat: int = 3) -> dict[str, Any]:
    """The dashboard page as a browser gets it: signed in through the login form, then GET /dashboard for
    the township (outside any app context of the caller: each request has its own, as in production)."""
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    signed_in = client.post("/login", data={"csrf_token": unescape(token.group(1)) if token else "",
                                           "username": username, "password": password})
    if signed_in.status_code != 302:
        raise SystemExit(f"could not sign in as {username} (status {signed_in.status_code})")
    path = f"/dashboard?township={township_id}"
    statuses = []

    def get() -> None:
        statuses.append(client.get(path).status_code)

    first, _ = _timed(get)
    warm = [_timed(get)[0] for _ in range(max(1, repeat))]
    return _summary(first, warm) | {"path": path, "statuses": sorted(set(statuses))}


def _profile(call: Callable[[], Any], title: str) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    call()
    profiler.stop()
    print(f"----- {title}", file=sys.stderr)
    print(profiler.output_text(unicode=True, color=False, show_all=False), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    arguments = parser("Time the monthly meeting report and the dashboard on a generated database.")
    arguments.add_argument("--month", help="YYYY-MM (default: the latest full month of the data)")
    arguments.add_argument("--township", type=int, help="township id (default: the one with the most cases)")
    arguments.add_argument("--repeat", type=int, default=3, help="warm runs of each (default: %(default)s)")
    arguments.add_argument("--profile", action="store_true", help="print pyinstrument profiles to stderr")
    arguments.add_argument("--password", help="the generated users' password, to time the dashboard page "
                                              "(default: bench.generate's; 'none' to skip the page)")
    options = arguments.parse_args(argv)
    app = make_app(options.database_url)
    with app.app_context():
        figures = run(month=options.month, township_id=options.township, repeat=options.repeat,
                      profile=options.profile)
    password = options.password
    if password is None:
        from bench.generate import PASSWORD as password
    if password != "none":
        figures["dashboard_page"] = time_page(app, figures["township"]["id"], figures["supervisor"], password,
                                              options.repeat)
    record(NAME, options.database_url, figures, write=not options.no_record)


if __name__ == "__main__":
    main()
