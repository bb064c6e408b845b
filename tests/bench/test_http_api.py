"""Smoke test of bench.http_api at tiny scale: gunicorn with two workers on the test database, the Python
client; every request is a transition answered 200, logged once by gunicorn, and one audit event."""
from __future__ import annotations

from bench.http_api import run
from caseflow.extensions import db


def test_http_benchmark_answers_every_transition_once(app, tmp_path):
    db.session.rollback()
    figures = run(app, workers=2, seconds=1.5, warmup=0, connections=2, cases_per_connection=2, clerks=1,
                  client="python", work_dir=tmp_path)

    requests = figures["requests"]
    assert requests > 0 and figures["client"] == "python" and figures["cases"] == 4
    assert figures["statuses"] == {"200": requests}  # each connection owns its cases: no conflict
    assert figures["audit_events_written"] == requests  # one committed transition per answer
    assert figures["requests_logged_by_gunicorn"] == requests == figures["server_latency"]["count"]
    assert sum(figures["requests_per_worker"].values()) == requests
    assert len(figures["worker_rss_mb"]) == 2 and figures["client_latency"]["count"] == requests
    assert figures["transitions_per_second"] > 0 and figures["client_latency"]["p95_ms"] > 0
