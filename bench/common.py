"""What every benchmark shares: the app on a database URL with the durable defaults, percentiles, resident
memory, a description of the machine, and one JSON file of results per benchmark and database.

Results go to ``bench/results/<name>.<dialect>.json`` (committed: docs/benchmarks.md quotes them).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import psutil
import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_SQLITE = f"sqlite:///{BENCH_DIR / 'data' / 'bench.sqlite3'}"


def absolute_database_url(value: str) -> str:
    """``value`` with a relative SQLite path made absolute from the current directory, as the commands in
    docs/benchmarks.md are written (the app, and a gunicorn started with the URL, would otherwise take it
    from the app's instance folder); the path's folder is created."""
    url = sa.engine.make_url(value)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return value
    path = Path(url.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return url.set(database=str(path)).render_as_string(hide_password=False)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the option every benchmark takes: which database."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--database-url", type=absolute_database_url,
                           default=os.environ.get("CASEFLOW_DATABASE_URL", DEFAULT_SQLITE),
                           help="SQLAlchemy URL of a generated database (bench.generate); default: %(default)s")
    arguments.add_argument("--no-record", action="store_true",
                           help="print the figures without writing bench/results")
    return arguments


def make_app(database_url: str, **overrides: Any):
    """The real application on ``database_url`` with the production settings (durable commits)."""
    from caseflow import create_app

    settings = {"SQLALCHEMY_DATABASE_URI": absolute_database_url(database_url), "SECRET_KEY": "bench-not-secret"} | overrides
    return create_app(settings)


def dialect_of(database_url: str) -> str:
    return sa.engine.make_url(database_url).get_backend_name()


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0.95 for p95) by linear interpolation; values need not be sorted."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(fraction * 1000) - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Milliseconds: median, p95, p99 and max of request or call durations given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {"count": len(ms), "p50_ms": round(percentile(ms, 0.50), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "p99_ms": round(percentile(ms, 0.99), 2), "max_ms": round(max(ms), 2) if ms else float("nan")}


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MiB."""
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as t: ...`` then ``t["seconds"]``: wall-clock time of the block."""
    timing: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing["seconds"] = time.perf_counter() - start


def machine(database_url: str | None = None) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described: dict[str, Any] = {
        "cpu": cpu, "cores": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if database_url and dialect_of(database_url) == "postgresql":
        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            described["postgresql"] = connection.scalar(sa.text("show server_version"))
            described["synchronous_commit"] = connection.scalar(sa.text("show synchronous_commit"))
        engine.dispose()
    return described


def record(name: str, database_url: str, figures: dict[str, Any], *, write: bool = True,
           variant: str | None = None) -> Path | None:
    """Print ``figures`` and write them, with the machine and the command line, to bench/results.

    ``variant`` (e.g. "2workers") keeps the results of one shape of a benchmark in their own file,
    ``<name>.<variant>.<dialect>.json``, next to the default shape's."""
    result = {
        "benchmark": name,
        "dialect": dialect_of(database_url),
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench." + name + " " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": machine(database_url),
        "figures": figures,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if not write:
        return None
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.{variant + '.' if variant else ''}{result['dialect']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
