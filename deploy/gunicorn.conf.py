"""gunicorn settings for caseflow in production (docs/deployment.md).

    gunicorn --config deploy/gunicorn.conf.py

Every value can be set in the environment (systemd: /etc/caseflow/caseflow.env); command-line options
override this file (the benchmarks and tests do that for the port and the log files).
"""
import gc
import multiprocessing
import os


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CASEFLOW_{name}", default)


wsgi_app = "caseflow:create_app()"

# Behind nginx on the same machine; another machine's proxy needs an address it can reach (and
# CASEFLOW_FORWARDED_ALLOW_IPS, CASEFLOW_PROXY_HOPS below).
bind = _env("WEB_BIND", "127.0.0.1:8000").split(",")

# Sync workers: one request at a time per process. caseflow is bound by the database (every request
# waits on a query or a commit), not by slow clients, which nginx buffers in front of it; a process per
# request in flight needs no thread safety of its own, keeps the GIL out of the latency, and lets a stuck
# request be killed on its own (timeout). Threads or gevent would add concurrency the database then
# serialises anyway. Default: 2 per core plus one, so a worker waiting on a commit leaves the cores busy.
worker_class = "sync"
workers = int(_env("WEB_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))

# Load the app once in the master, then fork: a worker starts (and a recycled one restarts) in
# milliseconds, and an app that cannot start fails the service at once with its error, instead of
# workers dying one after another. No database connection exists before the fork (the pool opens them
# lazily); post_fork below makes sure of it. The price: new code needs a restart, not a HUP reload.
preload_app = True

# A request longer than this is killed and logged (the worker restarts). The longest legitimate ones are
# exports of up to 50,000 rows; everything else answers in milliseconds.
timeout = int(_env("WEB_TIMEOUT", "120"))
# On stop or restart, requests in flight get this long to finish.
graceful_timeout = int(_env("WEB_GRACEFUL_TIMEOUT", "30"))
# Only for worker types that keep connections open; sync workers close each after its response (nginx
# keeps the clients' connections open on its side).
keepalive = 5

# A safety net against slow memory growth (a leak in a library, a huge export's heap): each worker is
# replaced after this many requests, at a random point in the next `jitter` so they are not all replaced
# at once. Cheap with preload_app (a fork). 0 turns it off.
max_requests = int(_env("WEB_MAX_REQUESTS", "5000"))
max_requests_jitter = int(_env("WEB_MAX_REQUESTS_JITTER", "500"))

# X-Forwarded-Proto from these addresses may mark a request as HTTPS (gunicorn); the client address and
# host come from the app's ProxyFix (CASEFLOW_PROXY_HOPS). Keep both to the proxies you run.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs to stderr (journald under systemd). The access log gives each request's time in microseconds and
# the worker's pid: grep a slow request, or count requests per worker.
accesslog = _env("WEB_ACCESS_LOG", "-")
errorlog = _env("WEB_ERROR_LOG", "-")
loglevel = _env("WEB_LOG_LEVEL", "info")
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(D)sus %(p)s "%(f)s" "%(a)s"'  # %(p)s is <pid>
proc_name = "caseflow-web"

# The heartbeat file is touched constantly: keep it in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# gunicorn ≥ 25 opens a control socket ($HOME/.gunicorn/gunicorn.ctl by default): only where asked for
# (systemd: /run/caseflow/gunicorn.ctl), so two instances on one machine never fight over one path.
control_socket = _env("WEB_CONTROL_SOCKET", "") or None
control_socket_disable = control_socket is None


def pre_fork(server, worker):
    """Move everything the master has loaded (the app, its libraries: about 146,000 objects) out of the
    garbage collector's view before the worker is forked from it. A worker's full collection then skips
    them: walking them took 100 ms and more (357 ms on a busy 2-core machine), a pause in whichever request
    it fell on, and wrote to every page it touched, so the worker copied the memory it shares with the
    master. Objects created later are collected as usual."""
    gc.freeze()


def post_fork(server, worker):
    """A forked worker must never use a connection the master opened: drop any, without closing them
    (closing would end the master's, which belong to nobody else)."""
    from caseflow.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
