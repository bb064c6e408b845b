"""What the README's first command runs, in real processes: migrate an empty SQLite database, load the
demo data, and serve the web UI with the scheduler in-process."""
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

CASEFLOW = Path(sys.executable).with_name("caseflow")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_migrate_seed_and_serve_with_the_scheduler(tmp_path):
    env = {**os.environ, "CASEFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'quick.sqlite3'}",
           "CASEFLOW_SECRET_KEY": "quick-start-test", "PYTHONUNBUFFERED": "1"}
    env.pop("CASEFLOW_TEST_DATABASE_URL", None)
    for args in (["db", "upgrade"], ["seed-demo", "--if-empty"]):
        done = subprocess.run([CASEFLOW, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert re.search(r"\d+ users, \d+ cases", done.stdout), done.stdout

    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([CASEFLOW, "run", "--port", str(port)], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        page = None
        for _ in range(100):
            try:
                page = urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read().decode()
                break
            except (ConnectionError, OSError):
                time.sleep(0.2)
        assert page is not None, log_path.read_text()
        assert "<h1>登录</h1>" in page and "演示系统" in page
        queue = urlopen(f"http://127.0.0.1:{port}/", timeout=2)  # the queue sends strangers to sign in
        assert queue.url.startswith(f"http://127.0.0.1:{port}/login")
        output = log_path.read_text()
        assert "Scheduler started" in output
        assert re.search(r"job refresh_provisional_deadlines: \d+ provisional deadline\(s\) recomputed", output)
    finally:
        server.terminate()
        server.wait(timeout=10)
