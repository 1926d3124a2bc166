"""gunicorn's settings for Ping'an Points (gunicorn reads this file from the working directory).

Command-line flags override these. docs/deploy.md explains each choice.
"""

import glob
import os

# Sync workers: each request holds one database connection for a short transaction.
worker_class = "sync"
timeout = 30
graceful_timeout = 30
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = 10000
max_requests_jitter = 1000
# The app writes its own JSON access log (request id, member, latency) to stderr.
accesslog = None
errorlog = "-"


def on_starting(server):
    """Start with an empty Prometheus multiprocess directory, when one is configured."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for leftover in glob.glob(os.path.join(directory, "*.db")):
            os.remove(leftover)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
