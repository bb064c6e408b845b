"""Transitions per second through ``services.apply_transition``, one or several worker processes.

Each worker is its own process (multiprocessing, spawn) with its own app. Before the clock starts it opens
its cases through ``open_case`` (in a bench office it creates if missing, so the benchmark runs on an empty
migrated database or on one made by ``bench.generate``); the cases are its own, so workers never collide.
Then every worker moves its cases along realistic routes through every workflow, one transaction per
transition exactly as the step view does: load the signed-in user, load the case locked, call
``apply_transition`` with the version seen, commit, end the session.

    python -m bench.transitions --database-url URL [--transitions N] [--workers W]

Prints transitions/s per worker and in total, p50/p95 per transition, the CPU time per transition (each
worker's and, on a PostgreSQL server on this machine, its server process's: steadier than the rate when
other work shares the cores) and each worker's resident memory before and after, and writes
bench/results/transitions.<dialect>.json.
"""
from __future__ import annotations

import itertools
import multiprocessing
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import sqlalchemy as sa
from stdnum.cn import ric

from bench.common import latency_summary, make_app, parser, record, rss_mb

# The bench office: its own township, village and one user per role, created once per database.
TOWNSHIP_CODE, VILLAGE_CODE = "BENCH-T", "BENCH-V"
USERS = {"clerk": ("bench_clerk", ["clerk"]), "supervisor": ("bench_supervisor", ["supervisor"]),
         "village": ("bench_village", ["village_officer"])}

# Fee cases run on a fixed clock (as in the tests): their inputs are dated, and guards compare the dates.
FEE_OPENED = datetime(2025, 1, 6, 2, tzinfo=timezone.utc)
FEE_STEPS_AT = datetime(2025, 9, 1, 2, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Move:
    """One planned step: who fires it, with what, and when (days after the case was opened; None: now)."""

    trigger: str
    actor: str  # a key of USERS, or "system"
    data: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    day: float | None = None


@dataclass(frozen=True)
class Route:
    """How a case is opened and the steps it then takes."""

    name: str
    workflow: str
    opened_by: str
    application: dict[str, Any]
    moves: tuple[Move, ...]
    clock: str = "live"  # "live": real time; "past": opened 40 days ago; "fee": the fixed fee clock


BIRTH = {"applicant_relation": "mother", "marital_status": "married", "marriage_date": "2020-05-01",
         "hukou_address": "示例镇东村 8 号", "existing_children": 1, "channel": "on_site"}

ROUTES: tuple[Route, ...] = (
    Route("birth_with_supplement", "birth_registration", "village", BIRTH, (
        Move("request_supplement", "clerk", {"missing_items": "结婚证复印件"}),
        Move("resubmit", "village", {"supplied_items": "结婚证复印件"}),
        Move("accept", "clerk"),
        Move("verify", "clerk", {"discrepancy": "户籍地址与身份证不一致", "other_registry": "示例县公安局"}),
        Move("register", "clerk", {"verification_result": "核查无误"}),
    )),
    Route("birth_direct", "birth_registration", "village", BIRTH, (
        Move("accept", "clerk"),
        Move("register", "clerk"),
    )),
    Route("birth_withdrawn", "birth_registration", "village", BIRTH, (
        Move("accept", "clerk"),
        Move("withdraw", "clerk", reason="申请人书面申请撤回"),
    )),
    Route("subsidy_enrolled", "subsidy", "village",
          {"scheme": "jiangfu", "hukou_address": "示例镇东村 8 号", "channel": "on_site"}, (
              Move("village_review", "village", {"village_opinion": "符合条件"}, day=1),
              Move("start_notice", "clerk", day=2),
              Move("end_notice", "system", day=20),
              Move("township_review", "clerk", {"home_visit_note": "入户核实"}, day=21),
              Move("county_approve", "supervisor", {"county_decision_ref": "示县卫〔2026〕1号"}, day=22),
              Move("enrol", "clerk", {"enrolment_start": "2026-01-01", "bank_name": "农商银行",
                                      "bank_account": "6222020200112233445"}, day=23),
              Move("open_reconfirmation", "system", {"year": 2026}, day=24),
              Move("reconfirm", "clerk", {"reconfirmation_note": "仍符合条件"}, day=25),
          ), clock="past"),
    Route("fee_decided", "fee_case", "clerk",
          {"fee_type": "subsidy_recovery", "violation_date": "2024-12-01", "harm_to_life_or_health": "no",
           "party_role": "person", "case_source": "年审发现重复领取育儿补贴 3600 元"}, (
              Move("investigate", "clerk", {"investigator_1": "李执法", "investigator_1_cert": "ZF330100001",
                                            "investigator_2": "王执法", "investigator_2_cert": "ZF330100002"}),
              Move("review", "supervisor", {"findings": "重复领取育儿补贴 3600 元属实", "major_case": "no",
                                            "legal_review": "not_required"}),
              Move("serve_notice", "clerk", {"proposed_amount": "3600.00", "notice_reasons": "重复领取",
                                             "notice_basis": "《育儿补贴制度实施方案》",
                                             "notice_service_method": "in_person",
                                             "notice_served_on": "2025-01-10", "notice_proof": "送达回证 2025-001"}),
              Move("decide", "supervisor", {"decided_amount": "3600.00", "decision_facts": "重复领取育儿补贴",
                                            "decision_basis": "《育儿补贴制度实施方案》",
                                            "payment_place": "示例镇财政所（农商银行代收）"}),
              Move("serve_decision", "clerk", {"decision_service_method": "in_person", "electronic_consent": "no",
                                               "decision_served_on": "2025-01-24",
                                               "decision_proof": "送达回证 2025-002"}),
          ), clock="fee"),
    Route("procedure_certificate", "procedure_certificate", "clerk",
          {"gestation_weeks": 16, "institution": "示例县人民医院", "declaration": "confirmed"}, (
              Move("request_supplement", "clerk", {"missing_items": "医疗机构诊断证明"}),
              Move("resubmit", "clerk", {"supplied_items": "医疗机构诊断证明"}),
              Move("issue", "clerk"),
          )),
)
# How often each route is opened, in every ten cases.
MIX = ("birth_with_supplement", "birth_direct", "birth_withdrawn", "birth_direct", "subsidy_enrolled",
       "subsidy_enrolled", "fee_decided", "fee_decided", "procedure_certificate", "birth_with_supplement")
BY_NAME = {route.name: route for route in ROUTES}
MEAN_MOVES = sum(len(BY_NAME[name].moves) for name in MIX) / len(MIX)


def ensure_schema(app) -> None:
    """Migrate an empty database (a generated one is already migrated)."""
    from flask_migrate import upgrade

    from caseflow.extensions import db

    with app.app_context():
        if not sa.inspect(db.engine).has_table("case"):
            upgrade()


def prepare_office() -> dict[str, int]:
    """The bench township, village and users (created if missing); returns user ids by role key and
    the village id. Needs an app context."""
    from caseflow.extensions import db, transactional
    from caseflow.models import Jurisdiction, User
    from caseflow.services.users import save_jurisdiction, save_user, system_user

    with transactional():
        township = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == TOWNSHIP_CODE))
        if township is None:
            township = save_jurisdiction(code=TOWNSHIP_CODE, name="基准镇", kind="township", parent_id=None)
        village = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == VILLAGE_CODE))
        if village is None:
            village = save_jurisdiction(code=VILLAGE_CODE, name="基准村", kind="village", parent_id=township.id)
        ids = {"village_id": village.id}
        for key, (username, roles) in USERS.items():
            user = db.session.scalar(sa.select(User).where(User.username == username))
            if user is None:
                place = village if key == "village" else township
                user = save_user(username=username, display_name=username, roles=roles,
                                 jurisdiction_ids=[place.id], email=f"{username}@bench.invalid",
                                 password="bench-password-not-secret")
            ids[key] = user.id
        ids["system"] = system_user().id
    db.session.remove()
    return ids


def _resident_ids(worker: int) -> Iterator[str]:
    """Valid, distinct resident IDs, even sequence digit (women: procedure certificates are hers)."""
    start = date(1980, 1, 1) + timedelta(days=worker * 3000)
    nonce = time.time_ns() // 1_000_000 % 997  # new applicants on each run against the same database
    for n in itertools.count():
        born = start + timedelta(days=(n + nonce * 500) // 400 % 2900)
        body = f"110101{born:%Y%m%d}{(n % 400) * 2 % 1000:03d}"
        yield body + ric.calc_check_digit(body + "0")


@dataclass
class PlannedCase:
    id: int
    route: Route
    opened_at: datetime | None
    version: int  # when opened
    done: int = 0


def _opening_time(route: Route, now: datetime) -> datetime | None:
    if route.clock == "fee":
        return FEE_OPENED
    if route.clock == "past":
        return now - timedelta(days=40)
    return None


def _step_time(case: PlannedCase, move: Move) -> datetime | None:
    if case.route.clock == "fee":
        return FEE_STEPS_AT
    if move.day is not None and case.opened_at is not None:
        return case.opened_at + timedelta(days=move.day)
    return None


def open_cases(office: dict[str, int], count: int, worker: int = 0, batch: int = 100,
               ids: Iterator[str] | None = None, mix: tuple[str, ...] = MIX) -> list[PlannedCase]:
    """Open ``count`` cases of ``mix`` (route names, in turn) through ``open_case`` (``batch`` per
    transaction), untimed."""
    from caseflow.calendar import utcnow
    from caseflow.extensions import db, transactional
    from caseflow.models import User
    from caseflow.services.cases import open_case

    ids = ids or _resident_ids(worker)
    planned: list[PlannedCase] = []
    now = utcnow()
    for first in range(0, count, batch):
        with transactional():
            openers = {key: db.session.get(User, office[key]) for key in USERS}
            for n in range(first, min(first + batch, count)):
                route = BY_NAME[mix[n % len(mix)]]
                opened_at = _opening_time(route, now)
                case = open_case(route.workflow, office["village_id"],
                                 {"name": "张敏", "resident_id": next(ids), "phone": "13812345678"},
                                 route.application, openers[route.opened_by], now=opened_at)
                planned.append(PlannedCase(case.id, route, opened_at or case.opened_at, case.version))
        db.session.remove()
    return planned


def schedule(cases: list[PlannedCase]) -> Iterator[tuple[PlannedCase, Move]]:
    """Interleave the cases' steps in waves (every case's first step, then every second step, ...), so
    consecutive transitions touch different cases, as in an office."""
    longest = max((len(c.route.moves) for c in cases), default=0)
    for wave in range(longest):
        for case in cases:
            if wave < len(case.route.moves):
                yield case, case.route.moves[wave]


def signed_in_users(office: dict[str, int]) -> dict[str, Any]:
    """The bench users, loaded once with their roles and places and detached: the users a worker acts as.

    Loading the signed-in user is the login manager's work on every request (bench.http measures it);
    here each transaction takes them over without a query (``merge(load=False)``). ``--load-user``
    loads them per transition instead, as the login manager would.
    """
    from caseflow.extensions import db
    from caseflow.models import User

    users = {}
    for key in (*USERS, "system"):
        user = db.session.get(User, office[key])
        user.roles, list(user.jurisdictions)  # loaded before it leaves the session
        users[key] = user
    db.session.expunge_all()
    db.session.remove()
    return users


def transition_once(users: dict[str, Any], case: PlannedCase, move: Move, *, load_user: bool = False) -> None:
    """One unit of work, as the step view does it: the case locked, the step, commit, session ended.

    In an app context of its own, which is what the step needs of Flask (what a request or a scheduler
    job keeps for its length, such as ``access.jurisdiction_ids``' memo, lives in ``flask.g``, kept here
    too and no longer). A request's own costs — routing, the session cookie, the form — are measured by
    bench.http_api: a request context alone took 93 µs, about 5 % of a step."""
    from flask import current_app

    from caseflow.extensions import db, transactional
    from caseflow.models import User
    from caseflow.services import access
    from caseflow.services.cases import apply_transition

    signed_in = users[move.actor]
    try:
        with current_app.app_context(), transactional():
            actor = (db.session.get(User, signed_in.id) if load_user
                     else db.session.merge(signed_in, load=False))
            loaded = access.readable_case(actor, case.id, for_update=True)
            apply_transition(loaded, move.trigger, actor, loaded.version, reason=move.reason, data=move.data,
                             now=_step_time(case, move))
        case.done += 1
    finally:
        db.session.remove()  # the request ends: nothing stays in the identity map


def run_transitions(office: dict[str, int], transitions: int, worker: int = 0,
                    ready: Callable[[], None] | None = None, load_user: bool = False,
                    profile: str | None = None) -> dict[str, Any]:
    """Open enough cases, wait for ``ready`` (the other workers), then time ``transitions`` steps.

    Needs an app context. Returns the figures of this worker, including the cases and the count of
    transitions done (the smoke test checks them against the audit trail).
    """
    rss_start = rss_mb()
    cases = open_cases(office, int(transitions / MEAN_MOVES) + len(MIX), worker)
    plan = list(itertools.islice(schedule(cases), transitions))
    if len(plan) < transitions:
        raise RuntimeError("not enough planned steps")  # open_cases opens a margin; cannot happen
    users = signed_in_users(office)
    rss_prepared = rss_mb()
    if ready is not None:
        ready()
    durations: list[float] = []
    errors: dict[str, int] = {}
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    backend = _database_backend()
    backend_cpu_before = _cpu_seconds(backend)
    cpu_before = time.process_time()
    started = time.perf_counter()
    for case, move in plan:
        t0 = time.perf_counter()
        try:
            transition_once(users, case, move, load_user=load_user)
        except Exception as exc:  # counted and reported: a benchmark that silently skips steps lies
            key = f"{case.route.name}.{move.trigger}: {type(exc).__name__}: {exc}"[:200]
            errors[key] = errors.get(key, 0) + 1
        durations.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    backend_cpu = _cpu_seconds(backend) - backend_cpu_before if backend and backend == _database_backend() else None
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False), encoding="utf-8")
    done = sum(c.done for c in cases)
    return {
        "worker": worker, "transitions": done, "errors": errors, "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 1) if elapsed else None,
        "latency": latency_summary(durations),
        # CPU time per transition of this process and (PostgreSQL on this machine) of its server process:
        # steadier than the rate when other work shares the cores.
        "cpu_ms_per_transition": round(1000 * cpu / max(done, 1), 3),
        "database_cpu_ms_per_transition": round(1000 * backend_cpu / max(done, 1), 3) if backend_cpu else None,
        "rss_mb": {"start": rss_start, "prepared": rss_prepared, "end": rss_mb()},
        "cases_opened": len(cases),
        "by_trigger": _count_by_trigger(plan),
        "case_states": [(c.id, c.route.name, c.version, c.done) for c in cases],
        "started_at": started, "ended_at": started + elapsed,
    }


def _database_backend() -> int | None:
    """The pid of the PostgreSQL server process serving this worker's pooled connection (None on SQLite,
    or when the server runs elsewhere)."""
    from caseflow.extensions import db

    if db.engine.dialect.name != "postgresql":
        return None
    pid = db.session.scalar(sa.text("select pg_backend_pid()"))
    db.session.remove()
    return pid if psutil.pid_exists(pid) else None


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _count_by_trigger(plan: list[tuple[PlannedCase, Move]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case, move in plan:
        key = f"{case.route.workflow}.{move.trigger}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _worker(database_url: str, office: dict[str, int], transitions: int, worker: int, load_user: bool,
            profile: str | None, barrier, results) -> None:
    """A spawned worker process: its own app, its own cases."""
    app = make_app(database_url)
    with app.app_context():
        try:
            figures = run_transitions(office, transitions, worker, ready=barrier.wait, load_user=load_user,
                                      profile=f"{profile}.worker{worker}.txt" if profile else None)
        except BaseException as exc:
            barrier.abort()
            results.put({"worker": worker, "failed": repr(exc)})
            raise
    figures.pop("case_states")
    results.put(figures)


def benchmark(database_url: str, transitions: int, workers: int, load_user: bool = False,
              profile: str | None = None) -> dict[str, Any]:
    """Run ``workers`` processes of ``transitions // workers`` transitions each; the combined figures."""
    app = make_app(database_url)
    ensure_schema(app)
    with app.app_context():
        office = prepare_office()
        from caseflow.extensions import db
        db.engine.dispose()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    share = transitions // workers
    processes = [context.Process(target=_worker, args=(database_url, office, share, n, load_user, profile, barrier, results))
                 for n in range(workers)]
    for process in processes:
        process.start()
    per_worker = sorted((results.get() for _ in processes), key=lambda r: r["worker"])
    for process in processes:
        process.join()
    failed = [r for r in per_worker if "failed" in r]
    if failed:
        raise SystemExit(f"worker failed: {failed}")
    # Total throughput over the span in which any worker was timing (they start together at the barrier).
    span = max(r["ended_at"] for r in per_worker) - min(r["started_at"] for r in per_worker)
    total = sum(r["transitions"] for r in per_worker)
    for r in per_worker:
        r.pop("started_at"), r.pop("ended_at")
    return {
        "workers": workers, "user_loaded_per_transition": load_user, "transitions": total, "seconds": round(span, 3),
        "per_second": round(total / span, 1),
        "cpu_ms_per_transition": round(sum(r["cpu_ms_per_transition"] * r["transitions"] for r in per_worker)
                                       / max(total, 1), 3),
        "errors": sum(sum(r["errors"].values()) for r in per_worker),
        "per_worker": per_worker,
    }


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--transitions", type=int, default=10_000, help="in total (default: %(default)s)")
    arguments.add_argument("--workers", type=int, default=1, help="processes (default: %(default)s)")
    arguments.add_argument("--load-user", action="store_true",
                           help="load the acting user in every transaction, as the login manager does per request")
    arguments.add_argument("--profile", metavar="PREFIX",
                           help="profile each worker's timed section with pyinstrument into PREFIX.workerN.txt "
                                "(the figures are then slower than without)")
    options = arguments.parse_args()
    figures = benchmark(options.database_url, options.transitions, options.workers, options.load_user,
                        options.profile)
    variant = "-".join(([f"{options.workers}workers"] if options.workers > 1 else [])
                       + (["load-user"] if options.load_user else [])) or None
    record("transitions", options.database_url, figures, write=not options.no_record, variant=variant)
    if figures["errors"]:
        raise SystemExit(f"{figures['errors']} transitions failed")


if __name__ == "__main__":
    main()
