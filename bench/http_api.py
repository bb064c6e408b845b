"""Transitions over HTTP: the JSON API served by gunicorn (deploy/gunicorn.conf.py), sync workers.

Before the clock starts the benchmark makes, in a bench office of its own (created once per database):
clerks with API tokens, and birth-registration cases that already have their number, in ``submitted``.
Each client connection owns its cases and cycles them through the two steps that need nothing but a
field (``request_supplement`` ⇄ ``resubmit``), sending the version the previous answer showed, so every
request is a real transition (permission, version check, audit event, deadline recompute, commit) and
none collides with another. A warm-up run comes first; the measured run starts from the database's state.

The load generator shares the machine's cores with the server, so it has to be lean: ``wrk`` (Debian
package ``wrk``) with ``bench/http_api.lua``, one connection per wrk thread; or, where there is no wrk,
a Python client (a thread per connection, ``http.client``). Its own CPU time is reported.

    python -m bench.http_api --database-url URL [--workers 2] [--duration 20] [--concurrency 4]

Prints requests/s, client-side p50/p95/p99 and the server-side time of the same requests from gunicorn's
access log (``%(D)s``), and writes bench/results/http_api.<dialect>.json.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import psutil
import sqlalchemy as sa
from stdnum.cn import ric

from bench.common import latency_summary, make_app, parser, percentile, record, rss_mb

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
WRK_SCRIPT = Path(__file__).resolve().parent / "http_api.lua"
BIN = Path(sys.executable).parent

# The bench office of this benchmark (distinct from bench.transitions' so each keeps its own cases).
TOWNSHIP_CODE, VILLAGE_CODE = "BENCH-HTTP-T", "BENCH-HTTP-V"
CLERK_PREFIX = "bench_http_clerk"
ITEMS = "户口簿复印件"


# --------------------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# One line of deploy/gunicorn.conf.py's access_log_format.
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \S+ (?P<micros>\d+)us '
                         r'<(?P<pid>\d+)>')


@dataclass(frozen=True)
class AccessEntry:
    method: str
    path: str
    status: int
    micros: int
    pid: int


def parse_access_log(text: str) -> list[AccessEntry]:
    entries = []
    for line in text.splitlines():
        match = ACCESS_LINE.search(line)
        if match:
            entries.append(AccessEntry(match["method"], match["path"], int(match["status"]), int(match["micros"]),
                                       int(match["pid"])))
    return entries


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of caseflow processes started by the benchmarks and tests: the database, a fixed
    secret key (shared by every worker), sign-in limits out of the way, nothing from the test harness."""
    env = {**os.environ, "CASEFLOW_DATABASE_URL": database_url, "CASEFLOW_SECRET_KEY": "bench-not-secret",
           "CASEFLOW_SIGN_IN_RATE_LIMIT": "100000 per minute", "PYTHONUNBUFFERED": "1"}
    env.pop("CASEFLOW_TEST_DATABASE_URL", None)
    env.update(extra)
    return env


class WebServer:
    """gunicorn with deploy/gunicorn.conf.py on a free port of 127.0.0.1; access and error logs in
    ``log_dir``. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, database_url: str, log_dir: Path, workers: int = 2, **env: str):
        self.workers = workers
        self.port = free_port()
        self.log_dir = Path(log_dir)
        self.access_log = self.log_dir / "gunicorn-access.log"
        self.error_log = self.log_dir / "gunicorn-error.log"
        self.env = server_env(database_url, **env)
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> "WebServer":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.access_log, self.error_log):
            path.write_text("")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--access-logfile", str(self.access_log),
             "--error-logfile", str(self.error_log)],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < self.workers or not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.error_log.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start:\n{self.error_log.read_text()}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        """The API answers (401 without a token: no database needed)."""
        try:
            connection = http.client.HTTPConnection(*self.address, timeout=5)
            connection.request("GET", "/api/v1/workflows")
            status = connection.getresponse().status
            connection.close()
            return status == 401
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            return sorted(child.pid for child in psutil.Process(self.process.pid).children())
        except psutil.NoSuchProcess:
            return []

    def access_entries(self, start: int = 0) -> list[AccessEntry]:
        """Requests logged so far (from byte ``start`` of the access log on)."""
        with open(self.access_log, encoding="utf-8", errors="replace") as log:
            log.seek(start)
            return parse_access_log(log.read())

    def access_log_size(self) -> int:
        return self.access_log.stat().st_size

    def wait_quiet(self, settle: float = 0.5, timeout: float = 60.0) -> None:
        """Until the access log stops growing: requests still in flight when a client stopped (wrk leaves
        one per connection) have been answered and committed."""
        deadline = time.monotonic() + timeout
        size = -1
        while (current := self.access_log_size()) != size and time.monotonic() < deadline:
            size = current
            time.sleep(settle)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: requests in flight finish
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------- the data

@dataclass
class BenchCase:
    id: int
    version: int
    state: str  # submitted | needs_supplement


@dataclass
class Prepared:
    tokens: list[str]
    cases: list[BenchCase]


def _resident_ids(seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    while True:
        body = f"110101{rng.randint(1970, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        yield body + ric.calc_check_digit(body + "0")


def prepare(app, *, clerks: int, cases: int, seed: int = 7) -> Prepared:
    """The bench office's clerks (each with a new API token) and at least ``cases`` numbered open cases in
    ``submitted`` or ``needs_supplement``; created where missing, committed."""
    from caseflow.extensions import db, transactional
    from caseflow.models import Case, Jurisdiction, User
    from caseflow.services.cases import apply_transition, open_case
    from caseflow.services.users import issue_api_token, save_jurisdiction, save_user

    with app.app_context():
        with transactional():
            township = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == TOWNSHIP_CODE))
            if township is None:
                township = save_jurisdiction(code=TOWNSHIP_CODE, name="压测镇", kind="township", parent_id=None)
                save_jurisdiction(code=VILLAGE_CODE, name="压测村", kind="village", parent_id=township.id)
            village = db.session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == VILLAGE_CODE))
            users = []
            for number in range(1, clerks + 1):
                name = f"{CLERK_PREFIX}{number}"
                user = db.session.scalar(sa.select(User).where(User.username == name))
                if user is None:
                    user = save_user(username=name, display_name=f"压测办事员{number}", roles=["clerk"],
                                     jurisdiction_ids=[township.id], email=None,
                                     password=secrets.token_urlsafe(24))  # nobody signs in: tokens only
                users.append(user)
            tokens = [issue_api_token(user, 12) for user in users]
            village_id = village.id
        found = list(db.session.execute(
            sa.select(Case.id, Case.version, Case.state)
            .where(Case.jurisdiction_id == village_id, Case.number.is_not(None),
                   Case.state.in_(("submitted", "needs_supplement")))
            .order_by(Case.id).limit(cases)))
        ids = _resident_ids(seed + len(found))
        opener = db.session.scalar(sa.select(User).where(User.username == f"{CLERK_PREFIX}1"))
        for _ in range(cases - len(found)):
            with transactional():
                case = open_case("birth_registration", village_id,
                                 {"name": "张敏", "resident_id": next(ids), "phone": "13812345678"},
                                 {"applicant_relation": "mother", "marital_status": "married",
                                  "marriage_date": "2020-05-01", "hukou_address": "压测村 1 号",
                                  "existing_children": 1, "channel": "on_site"}, opener)
                # The first notice numbers the case (a counter row every worker would queue on): done here.
                apply_transition(case, "request_supplement", opener, case.version,
                                 data={"missing_items": ITEMS})
                apply_transition(case, "resubmit", opener, case.version, data={"supplied_items": ITEMS})
                found.append((case.id, case.version, case.state))
        db.session.remove()
    return Prepared(tokens, [BenchCase(*row) for row in found[:cases]])


def refresh(app, cases: list[BenchCase]) -> None:
    """Each case's version and state as committed (after a run whose client kept its own count)."""
    from caseflow.extensions import db
    from caseflow.models import Case

    with app.app_context():
        rows = dict((row.id, row) for row in db.session.execute(
            sa.select(Case.id, Case.version, Case.state).where(Case.id.in_([c.id for c in cases]))))
        db.session.remove()
    for case in cases:
        case.version, case.state = rows[case.id].version, rows[case.id].state


def transition_body(case: BenchCase) -> bytes:
    if case.state == "submitted":
        body = {"trigger": "request_supplement", "version": case.version, "data": {"missing_items": ITEMS}}
    else:
        body = {"trigger": "resubmit", "version": case.version, "data": {"supplied_items": ITEMS}}
    return json.dumps(body, ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------- the clients

@dataclass
class LoadResult:
    client: str
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds; the Python client only
    latency_ms: dict[str, float] = field(default_factory=dict)
    client_cpu_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def split(cases: list[BenchCase], connections: int) -> list[list[BenchCase]]:
    """Each connection its own cases: no two requests in flight ever touch the same case."""
    if len(cases) < connections:
        raise ValueError(f"{len(cases)} cases for {connections} connections: each needs at least one")
    return [cases[i::connections] for i in range(connections)]


def drive_python(address: tuple[str, int], tokens: list[str], cases: list[BenchCase], *, connections: int,
                 seconds: float, stop: threading.Event | None = None) -> LoadResult:
    """A thread per connection, each sending its cases' transitions one after another until ``seconds``
    pass (or ``stop`` is set). Latency is measured from opening the TCP connection (sync workers close
    it after each answer) to the last byte of the answer."""
    stop = stop or threading.Event()
    result = LoadResult("python", seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def connection_loop(index: int, own: list[BenchCase]) -> None:
        headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}",
                   "Content-Type": "application/json"}
        statuses: Counter = Counter()
        latencies: list[float] = []
        position = 0
        while time.monotonic() < deadline and not stop.is_set() and own:
            case = own[position % len(own)]
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(*address, timeout=60)
                connection.request("POST", f"/api/v1/cases/{case.id}/transitions", transition_body(case), headers)
                response = connection.getresponse()
                body = response.read()
                connection.close()
            except OSError as error:
                statuses[f"error:{type(error).__name__}"] += 1
                time.sleep(0.05)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[response.status] += 1
            if response.status == 200:
                answer = json.loads(body)
                case.version, case.state = answer["version"], answer["state"]
                position += 1
            else:  # out of step with the database: leave the case alone from now on
                own.remove(case)
        with lock:
            result.statuses.update(statuses)
            result.latencies.extend(latencies)

    cpu_before = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=connection_loop, args=(i, own), daemon=True)
               for i, own in enumerate(split(cases, connections))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    result.client_cpu_seconds = time.process_time() - cpu_before
    result.latency_ms = latency_summary(result.latencies)
    return result


def drive_wrk(address: tuple[str, int], tokens: list[str], cases: list[BenchCase], *, connections: int,
              seconds: float, work_dir: Path) -> LoadResult:
    """wrk with bench/http_api.lua: ``connections`` threads of one connection each (so each thread's
    answers come back in the order of its requests and it can follow its cases' versions)."""
    plan = work_dir / "wrk-cases.txt"
    with open(plan, "w") as out:
        for index, own in enumerate(split(cases, connections), start=1):
            token = tokens[(index - 1) % len(tokens)]
            for case in own:
                out.write(f"{index} {token} {case.id} {case.version} {case.state}\n")
    command = ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "60s", "-s", str(WRK_SCRIPT), f"http://{address[0]}:{address[1]}", "--", str(plan)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # the rusage of wrk itself: its CPU time
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or "WRK_RESULT " not in output:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
    figures = json.loads(output.split("WRK_RESULT ", 1)[1].splitlines()[0])
    result = LoadResult("wrk", figures["duration_us"] / 1e6)
    result.statuses.update({200: figures["ok"], 409: figures["conflict"]})
    if figures["other"]:
        result.statuses["other"] = figures["other"]
    for kind in ("connect", "read", "write", "timeout"):
        if figures[f"{kind}_errors"]:
            result.statuses[f"error:{kind}"] = figures[f"{kind}_errors"]
    result.latency_ms = {"count": figures["requests"], "p50_ms": round(figures["p50_us"] / 1000, 2),
                         "p95_ms": round(figures["p95_us"] / 1000, 2), "p99_ms": round(figures["p99_us"] / 1000, 2),
                         "max_ms": round(figures["max_us"] / 1000, 2)}
    result.client_cpu_seconds = usage.ru_utime + usage.ru_stime
    return result


def drive(client: str, server: WebServer, prepared: Prepared, *, connections: int, seconds: float,
          work_dir: Path) -> LoadResult:
    if client == "wrk":
        return drive_wrk(server.address, prepared.tokens, prepared.cases, connections=connections,
                         seconds=seconds, work_dir=work_dir)
    return drive_python(server.address, prepared.tokens, prepared.cases, connections=connections, seconds=seconds)


# -------------------------------------------------------------------------------------- the benchmark

def transition_events(app, case_ids: list[int]) -> int:
    """Audit events of the two benchmark steps on these cases: one per transition that committed."""
    from caseflow.extensions import db
    from caseflow.models import CaseEvent

    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count(CaseEvent.id)).where(
            CaseEvent.case_id.in_(case_ids), CaseEvent.trigger.in_(("request_supplement", "resubmit"))))
        db.session.remove()
    return count


def database_backends(app, worker_pids: list[int]) -> list[int]:
    """PostgreSQL: the server processes serving these workers' connections (matched by client port), so
    their CPU time can be counted too. Empty on SQLite (the database runs inside the workers)."""
    from caseflow.extensions import db

    ports = set()
    for pid in worker_pids:
        for connection in psutil.Process(pid).net_connections(kind="tcp"):
            if connection.raddr and connection.status == psutil.CONN_ESTABLISHED:
                ports.add(connection.laddr.port)
    with app.app_context():
        if db.engine.dialect.name != "postgresql" or not ports:
            return []
        backends = list(db.session.scalars(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(:ports) AND client_addr IS NOT NULL"),
            {"ports": sorted(ports)}))
        db.session.remove()
    return [pid for pid in backends if psutil.pid_exists(pid)]


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            seconds[pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return seconds


def run(app, *, workers: int = 2, seconds: float = 20.0, warmup: float = 3.0, connections: int = 4,
        cases_per_connection: int = 50, clerks: int = 4, client: str | None = None,
        work_dir: Path | None = None, server_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the benchmark against ``app``'s database; returns the figures (see the module docstring)."""
    client = client or ("wrk" if shutil.which("wrk") else "python")
    work_dir = Path(work_dir or tempfile.mkdtemp(prefix="bench-http-"))
    prepared = prepare(app, clerks=clerks, cases=connections * cases_per_connection)
    case_ids = [case.id for case in prepared.cases]
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    # Steady state: no worker is recycled mid-run (production recycles one every few thousand requests).
    env = {"CASEFLOW_WEB_MAX_REQUESTS": "0"} | (server_env or {})
    with WebServer(database_url, work_dir, workers=workers, **env) as server:
        pids = server.worker_pids()
        if warmup > 0:
            drive(client, server, prepared, connections=connections, seconds=warmup, work_dir=work_dir)
            server.wait_quiet()
            refresh(app, prepared.cases)
        events_before = transition_events(app, case_ids)
        log_start = server.access_log_size()
        backends = database_backends(app, pids)
        cpu_before = cpu_seconds(pids + backends)
        machine_before = psutil.cpu_times()
        load = drive(client, server, prepared, connections=connections, seconds=seconds, work_dir=work_dir)
        machine_after = psutil.cpu_times()
        cpu_after = cpu_seconds(pids + backends)
        worker_cpu = sum(cpu_after[pid] - cpu_before[pid] for pid in pids)
        backend_cpu = sum(cpu_after[pid] - cpu_before[pid] for pid in backends if pid in cpu_after)
        worker_rss = {pid: rss_mb(pid) for pid in pids}
        server.wait_quiet()
        logged = [e for e in server.access_entries(log_start) if e.method == "POST" and e.path.endswith("/transitions")]
    events = transition_events(app, case_ids) - events_before
    ok = load.statuses.get(200, 0)
    server_ms = [e.micros / 1000 for e in logged]
    busy = sum(machine_after[:3]) - sum(machine_before[:3])  # user + nice + system of all cores
    total = busy + machine_after.idle - machine_before.idle
    return {
        "client": load.client,
        "workers": workers,
        "connections": connections,
        "cases": len(prepared.cases),
        "seconds": round(load.seconds, 2),
        "requests": load.requests,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items(), key=str)},
        "transitions_per_second": round(ok / load.seconds, 1),
        "client_latency": load.latency_ms,
        "server_latency": {"count": len(server_ms), "p50_ms": round(percentile(server_ms, 0.5), 2),
                           "p95_ms": round(percentile(server_ms, 0.95), 2),
                           "p99_ms": round(percentile(server_ms, 0.99), 2)},
        "audit_events_written": events,
        "requests_logged_by_gunicorn": len(logged),
        "requests_per_worker": dict(Counter(str(e.pid) for e in logged)),
        "client_cpu_seconds": round(load.client_cpu_seconds, 2),
        "client_cpu_percent_of_one_core": round(100 * load.client_cpu_seconds / load.seconds, 1),
        # CPU per transition of the server side: what caps throughput on a machine of its own. On a shared
        # machine (other load) the wall-clock figures fall, these stay.
        "workers_cpu_ms_per_request": round(1000 * worker_cpu / max(ok, 1), 2),
        "database_backends_cpu_ms_per_request": round(1000 * backend_cpu / max(ok, 1), 2) if backends else None,
        "machine_cpu_busy_percent": round(100 * busy / total, 1) if total else None,
        "worker_rss_mb": list(worker_rss.values()),
        "target": {"transitions_per_second": 400, "p95_ms": 50},
    }


def main() -> None:
    arguments = parser(__doc__.split("\n\n")[0])
    arguments.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: %(default)s)")
    arguments.add_argument("--duration", type=float, default=20.0, help="measured seconds (default: %(default)s)")
    arguments.add_argument("--warmup", type=float, default=3.0, help="seconds of load before (default: %(default)s)")
    arguments.add_argument("--concurrency", type=int, default=4,
                           help="client connections, each with its own cases (default: %(default)s)")
    arguments.add_argument("--cases-per-connection", type=int, default=50)
    arguments.add_argument("--client", choices=("wrk", "python"), default=None,
                           help="load generator (default: wrk when installed, else python)")
    arguments.add_argument("--pre-ping", choices=("idle", "always", "never"), default=None,
                           help="CASEFLOW_DB_POOL_PRE_PING for the workers (default: the setting's default)")
    options = arguments.parse_args()
    app = make_app(options.database_url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()  # a no-op on a migrated database; an empty one gets the schema
    env = {} if options.pre_ping is None else {"CASEFLOW_DB_POOL_PRE_PING": options.pre_ping}
    figures = run(app, workers=options.workers, seconds=options.duration, warmup=options.warmup,
                  connections=options.concurrency, cases_per_connection=options.cases_per_connection,
                  client=options.client, server_env=env)
    if options.pre_ping is not None:
        figures["pool_pre_ping"] = options.pre_ping
    record("http_api", options.database_url, figures, write=not options.no_record)


if __name__ == "__main__":
    main()
