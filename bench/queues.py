"""My queue and the team queue under concurrent users: server time per page kind (target: p95 ≤ 25 ms at 1M
cases with 8 users).

    python -m bench.queues --database-url URL [--users 8] [--requests 400] [--workers 2] [--think-ms 0]
    python -m bench.queues --database-url URL --profile team_red   # one request under pyinstrument, with its SQL

The real application runs under gunicorn with sync workers, the production shape (with
``deploy/gunicorn.conf.py`` when it exists; the command line here sets the address, the worker count and the
access log). Half the simulated users are clerks working through My queue, half supervisors working the
team queue. Each signs in once through the login form, CSRF token and all, with the generated users' shared
password, and then asks for pages as a person would: a first page, then up to three more through the page's
own Next link; supervisors change filters (red light, a village, an assignee, a workflow and state, opening
dates recent and past, closing dates) and sorts between first pages.

The server time of a request is gunicorn's own measure (``%(D)s`` in the access log: from the request read
to the response written, without the wait in the listen queue), matched to the request by an
``X-Bench-Id`` header. The client time, queueing behind busy workers included, is reported for information.
The first page of each user is a warm-up and is not counted.
"""
from __future__ import annotations

import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

import sqlalchemy as sa

from bench.common import BENCH_DIR, latency_summary, make_app, parser, record

TARGET_P95_MS = 25.0
GUNICORN_CONF = BENCH_DIR.parent / "deploy" / "gunicorn.conf.py"
ACCESS_FORMAT = "%({x-bench-id}i)s %(s)s %(D)s"
MAX_NEXT_PAGES = 3
ROW = re.compile(r'<tr class="case-row" data-case-id="\d+">')
NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def default_password() -> str:
    """The generated users' shared password (bench.generate), or $CASEFLOW_BENCH_PASSWORD."""
    if os.environ.get("CASEFLOW_BENCH_PASSWORD"):
        return os.environ["CASEFLOW_BENCH_PASSWORD"]
    try:
        from bench.generate import PASSWORD
    except ImportError:  # pragma: no cover - the generator not there yet
        raise SystemExit("no bench.generate.PASSWORD: pass --password or set CASEFLOW_BENCH_PASSWORD") from None
    return PASSWORD


# ------------------------------------------------------------------------------------------ who and what

@dataclass
class Person:
    """A simulated user and the views they move between (kind, path with query string)."""

    username: str
    role: str  # "clerk" (My queue) or "supervisor" (team queue)
    views: list[tuple[str, str]] = field(default_factory=list)


def team_views(supervisor, rng: random.Random) -> list[tuple[str, str]]:
    """The team-queue views a supervisor moves between, with values from their own jurisdictions."""
    from caseflow.calendar import local_date, utcnow
    from caseflow.services import access
    from caseflow.services.queues import team_handlers
    from caseflow.workflows import all_workflows

    def path(**args: str) -> str:
        return "/team" + ("?" + urlencode(args) if args else "")

    today = local_date(utcnow())
    villages = access.villages_of(supervisor)
    handlers = [u.username for u in team_handlers(supervisor) if u.active]
    workflow = rng.choice(all_workflows())
    open_states = [s.name for s in workflow.states if s.name not in workflow.closed] or \
        [s.name for s in workflow.states]
    views = [
        ("team_first", path()),
        ("team_red", path(light="red")),
        ("team_yellow_desc", path(light="yellow", dir="desc")),
        ("team_state", path(workflow=workflow.name, state=rng.choice(open_states))),
        ("team_opened", path(opened_from=(today - timedelta(days=90)).isoformat(),
                             opened_to=(today - timedelta(days=30)).isoformat(), status="all")),
        ("team_closed", path(status="closed", closed_from=(today - timedelta(days=60)).isoformat(),
                             closed_to=today.isoformat(), sort="opened", dir="desc")),
        # A past month's openings and two months' closings, each with "all" and the default order: each
        # matches a few thousand cases, which a walk of the whole table in id order once passed to find.
        ("team_opened_past", path(opened_from=(today - timedelta(days=600)).isoformat(),
                                  opened_to=(today - timedelta(days=570)).isoformat(), status="all")),
        ("team_closed_all", path(status="all", closed_from=(today - timedelta(days=60)).isoformat(),
                                 closed_to=today.isoformat())),
        ("team_sort_opened", path(sort="opened", dir="desc")),
        ("team_sort_number", path(sort="number")),
        ("team_sort_state", path(sort="state_entered")),
    ]
    if villages:
        views.append(("team_village", path(village=str(rng.choice(villages).id))))
    if handlers:
        views.append(("team_assignee", path(assignee=rng.choice(handlers))))
        views.append(("team_unassigned", path(assignee="none")))
    return views


def choose_people(app, users: int, seed: int) -> list[Person]:
    """Half clerks, half supervisors (at least one of each when there are two users), picked at random
    among the active ones who work somewhere."""
    from caseflow.extensions import db
    from caseflow.models import User, UserRole, user_jurisdiction

    rng = random.Random(seed)
    supervisors_wanted = users // 2 if users > 1 else 0
    clerks_wanted = users - supervisors_wanted
    people: list[Person] = []
    with app.app_context():
        for role, wanted in (("clerk", clerks_wanted), ("supervisor", supervisors_wanted)):
            if not wanted:
                continue
            candidates = list(db.session.scalars(
                sa.select(User).join(UserRole, UserRole.user_id == User.id)
                .where(UserRole.role == role, User.active.is_(True),
                       User.id.in_(sa.select(user_jurisdiction.c.user_id)))
                .order_by(User.id)))
            if not candidates:
                raise SystemExit(f"no active {role} with a jurisdiction in this database")
            chosen = rng.sample(candidates, wanted) if len(candidates) >= wanted else \
                [candidates[i % len(candidates)] for i in range(wanted)]
            for user in chosen:
                person = Person(user.username, role)
                person.views = team_views(user, rng) if role == "supervisor" else [("my_first", "/")]
                people.append(person)
        db.session.remove()
    return people


# ------------------------------------------------------------------------------------------------ server

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    access_log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(database_url: str, workers: int, log_dir: Path, settings: dict[str, str] | None = None) -> Server:
    """gunicorn serving ``caseflow:create_app()`` on ``database_url`` (and ``settings``, CASEFLOW_*
    environment variables); returns once it answers."""
    port = free_port()
    access_log = log_dir / "access.log"
    command = [sys.executable, "-m", "gunicorn"]
    if GUNICORN_CONF.exists():
        command += ["-c", str(GUNICORN_CONF)]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
                "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT,
                "--error-logfile", str(log_dir / "error.log"), "caseflow:create_app()"]
    env = os.environ | {
        "CASEFLOW_DATABASE_URL": database_url,
        "CASEFLOW_SECRET_KEY": "bench-not-secret",
        "CASEFLOW_SCHEDULER": "0",
        # Every simulated user signs in from 127.0.0.1; the sign-in throttle is not what is measured.
        "CASEFLOW_SIGN_IN_RATE_LIMIT": "10000 per minute",
    } | (settings or {})
    process = subprocess.Popen(command, env=env, cwd=BENCH_DIR.parent, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    server = Server(process, port, access_log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + (log_dir / "error.log").read_text(errors="replace")[-3000:])
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError("gunicorn did not answer within 60 s")


# ------------------------------------------------------------------------------------------------ client

@dataclass
class Sample:
    request_id: str
    kind: str
    status: int
    rows: int
    client_seconds: float
    warmup: bool = False


class Browser:
    """One signed-in person: cookies kept, a connection per request (sync workers close it anyway)."""

    def __init__(self, port: int, tag: str):
        self.port = port
        self.tag = tag
        self.cookies: dict[str, str] = {}
        self.count = 0

    def request(self, method: str, path: str, body: dict[str, str] | None = None,
                request_id: str = "-") -> tuple[int, str, dict[str, str], float]:
        headers = {"User-Agent": "caseflow-bench", "X-Bench-Id": request_id}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        elapsed = time.perf_counter() - start
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        return response.status, text, dict(response.headers), elapsed

    def sign_in(self, username: str, password: str) -> None:
        status, page, _, _ = self.request("GET", "/login")
        token = CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"login page: HTTP {status}")
        status, page, headers, _ = self.request(
            "POST", "/login", {"csrf_token": unescape(token.group(1)), "username": username, "password": password})
        if status != 302:
            raise RuntimeError(f"{username} could not sign in (HTTP {status}): wrong --password?")

    def page(self, kind: str, path: str, warmup: bool = False) -> tuple[Sample, str | None]:
        """GET a list page; the sample and the path of its Next link (None on the last page)."""
        self.count += 1
        request_id = f"{self.tag}-{self.count}"
        status, text, _, elapsed = self.request("GET", path, request_id=request_id)
        following = NEXT_LINK.search(text)
        return (Sample(request_id, kind, status, len(ROW.findall(text)), elapsed, warmup),
                unescape(following.group(1)) if following else None)


def simulate(number: int, person: Person, port: int, password: str, budget: int, seed: int, think: float,
             samples: list[Sample], errors: list[str], start: threading.Barrier) -> None:
    rng = random.Random(seed)
    browser = Browser(port, f"u{number}")
    try:
        browser.sign_in(person.username, password)
        sample, _ = browser.page(*person.views[0], warmup=True)
        samples.append(sample)
    except Exception as error:  # reported, and the run fails
        errors.append(f"{person.username}: {error}")
        start.abort()
        return
    try:
        start.wait()
    except threading.BrokenBarrierError:
        return
    next_kind = "my_next" if person.role == "clerk" else "team_next"
    done = 0
    try:
        while done < budget:
            kind, path = rng.choice(person.views)
            sample, following = browser.page(kind, path)
            samples.append(sample)
            done += 1
            for _ in range(rng.randint(0, MAX_NEXT_PAGES)):
                if following is None or done >= budget:
                    break
                if think:
                    time.sleep(rng.expovariate(1 / think))
                sample, following = browser.page(next_kind, following)
                samples.append(sample)
                done += 1
            if think:
                time.sleep(rng.expovariate(1 / think))
    except Exception as error:
        errors.append(f"{person.username}: {error}")


def server_times(access_log: Path) -> dict[str, float]:
    """Seconds in the server, by X-Bench-Id."""
    times: dict[str, float] = {}
    for line in access_log.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] != "-":
            times[parts[0]] = int(parts[2]) / 1e6
    return times


# --------------------------------------------------------------------------------------------------- run

def database_size(app) -> dict[str, int]:
    from caseflow.extensions import db
    from caseflow.models import Case

    with app.app_context():
        cases = db.session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0
        open_cases = db.session.scalar(sa.select(sa.func.count()).where(Case.closed_at.is_(None))) or 0
        db.session.remove()
    return {"cases": cases, "open_cases": open_cases}


def run(database_url: str, *, users: int = 8, requests: int = 400, workers: int = 2, think_ms: float = 0,
        seed: int = 1, password: str | None = None, page_size: int | None = None) -> dict[str, Any]:
    """Serve the app, let ``users`` people make ``requests`` page requests in all, and return the figures:
    per page kind the server and client latency, statuses and rows per page. ``page_size``: rows per page
    (default: the app's CASEFLOW_PAGE_SIZE)."""
    password = password or default_password()
    app = make_app(database_url)
    page_size = page_size or app.config["CASEFLOW_PAGE_SIZE"]
    size = database_size(app)
    people = choose_people(app, users, seed)
    with app.app_context():
        from caseflow.extensions import db
        db.engine.dispose()
    samples: list[Sample] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-queues-") as log_dir:
        server = start_server(database_url, workers, Path(log_dir), {"CASEFLOW_PAGE_SIZE": str(page_size)})
        try:
            start = threading.Barrier(len(people) + 1)
            budgets = [requests // len(people) + (i < requests % len(people)) for i in range(len(people))]
            threads = [threading.Thread(target=simulate, args=(i, person, server.port, password, budget, seed * 1000 + i,
                                                                think_ms / 1000, samples, errors, start))
                       for i, (person, budget) in enumerate(zip(people, budgets))]
            for thread in threads:
                thread.start()
            try:
                start.wait()
            except threading.BrokenBarrierError:
                pass
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        finally:
            server.stop()
        in_server = server_times(server.access_log)
    if errors:
        raise RuntimeError("; ".join(errors))
    counted = [s for s in samples if not s.warmup]
    return summarise(counted, in_server, size, users=users, people=people, workers=workers, think_ms=think_ms,
                     wall=wall) | {"page_size": page_size}


def _group(samples: list[Sample], in_server: dict[str, float]) -> dict[str, Any]:
    server = [in_server[s.request_id] for s in samples if s.request_id in in_server]
    figures: dict[str, Any] = {
        "requests": len(samples),
        "statuses": {str(code): sum(s.status == code for s in samples) for code in sorted({s.status for s in samples})},
        "rows_per_page": round(sum(s.rows for s in samples) / len(samples), 1) if samples else 0,
        "server": latency_summary(server),
        "client": latency_summary([s.client_seconds for s in samples]),
    }
    return figures


def summarise(samples: list[Sample], in_server: dict[str, float], size: dict[str, int], *, users: int,
              people: list[Person], workers: int, think_ms: float, wall: float) -> dict[str, Any]:
    kinds = sorted({s.kind for s in samples})
    by_kind = {kind: _group([s for s in samples if s.kind == kind], in_server) for kind in kinds}
    pages = {
        "my_queue": _group([s for s in samples if s.kind.startswith("my_")], in_server),
        "team_queue": _group([s for s in samples if s.kind.startswith("team_")], in_server),
    }
    worst = max((p["server"]["p95_ms"] for p in pages.values() if p["requests"]), default=float("nan"))
    return {
        "database": size,
        "users": users, "people": [{"username": p.username, "role": p.role} for p in people],
        "workers": workers, "think_ms": think_ms,
        "requests": len(samples), "seconds": round(wall, 2),
        "requests_per_second": round(len(samples) / wall, 1) if wall else None,
        "pages": pages,
        "kinds": by_kind,
        "server_p95_ms": worst,
        "target_server_p95_ms": TARGET_P95_MS,
        "meets_target": worst <= TARGET_P95_MS,
        "unmatched_server_times": sum(s.request_id not in in_server for s in samples),
    }


# -------------------------------------------------------------------------------------------- profiling

def profile(database_url: str, kind: str, *, seed: int = 1, password: str | None = None,
            repeat: int = 5) -> None:
    """One page of ``kind`` in this process: its SQL statements with their times, then a pyinstrument
    profile of the same request (run after ``repeat`` warm-ups)."""
    from pyinstrument import Profiler

    from caseflow.extensions import db

    password = password or default_password()
    app = make_app(database_url, CASEFLOW_SIGN_IN_RATE_LIMIT="10000 per minute")
    people = choose_people(app, 2, seed)
    person = next((p for p in people if any(k == kind for k, _ in p.views)), None)
    if person is None:
        kinds = sorted({k for p in people for k, _ in p.views})
        raise SystemExit(f"unknown kind {kind!r}; one of: {', '.join(kinds)}")
    path = dict(person.views)[kind]
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page)
    client.post("/login", data={"csrf_token": unescape(token.group(1)) if token else "",
                                "username": person.username, "password": password})
    statements: list[tuple[float, str]] = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_start", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_start"].pop()
        statements.append((time.perf_counter() - started, statement))

    for _ in range(repeat):
        response = client.get(path)
    print(f"{person.username} GET {path}: HTTP {response.status_code}, "
          f"{len(ROW.findall(response.get_data(as_text=True)))} rows")
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    timed: Callable[[], float] = time.perf_counter
    began = timed()
    client.get(path)
    total = timed() - began
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    print(f"\n{len(statements)} statements, {sum(s for s, _ in statements) * 1000:.1f} ms of "
          f"{total * 1000:.1f} ms in the request:")
    for seconds, statement in statements:
        print(f"{seconds * 1000:8.2f} ms  {' '.join(statement.split())[:400]}")
    profiler = Profiler(interval=0.0005)
    profiler.start()
    client.get(path)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--users", type=int, default=8, help="concurrent simulated users (default 8)")
    arguments.add_argument("--requests", type=int, default=400,
                           help="page requests in all, across the users (default 400)")
    arguments.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    arguments.add_argument("--think-ms", type=float, default=0,
                           help="mean pause between a user's requests (default 0: each user waits only for pages)")
    arguments.add_argument("--seed", type=int, default=1)
    arguments.add_argument("--password", help="the generated users' password (default: bench.generate's)")
    arguments.add_argument("--profile", metavar="KIND",
                           help="instead: profile one request of this page kind in-process (e.g. my_first, team_red)")
    args = arguments.parse_args()
    if args.profile:
        profile(args.database_url, args.profile, seed=args.seed, password=args.password)
        return
    figures = run(args.database_url, users=args.users, requests=args.requests, workers=args.workers,
                  think_ms=args.think_ms, seed=args.seed, password=args.password)
    record("queues", args.database_url, figures, write=not args.no_record)
    print_table(figures)


def print_table(figures: dict[str, Any]) -> None:
    """The figures that matter, one line per page kind (after the JSON, for a person reading the run)."""
    print(f"\n{'kind':<20}{'n':>5}{'rows':>6}{'srv p50':>9}{'srv p95':>9}{'srv max':>9}{'cli p95':>9}  statuses")
    for name, group in list(figures["kinds"].items()) + [("= " + k, v) for k, v in figures["pages"].items()]:
        server, client = group["server"], group["client"]
        print(f"{name:<20}{group['requests']:>5}{group['rows_per_page']:>6}{server['p50_ms']:>9}{server['p95_ms']:>9}"
              f"{server['max_ms']:>9}{client['p95_ms']:>9}  {group['statuses']}")
    print(f"server p95 (worst page) {figures['server_p95_ms']} ms, target {figures['target_server_p95_ms']} ms; "
          f"{figures['requests_per_second']} requests/s")


if __name__ == "__main__":
    main()
