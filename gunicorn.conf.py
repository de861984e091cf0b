"""gunicorn reads this file from the working directory. It only matters for /metrics in
multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set): prometheus-client keeps each worker's
values in files there, so the folder must start empty (stale files of a previous run would be
added in) and a dead worker's live gauges must stop counting. Without the variable it does nothing."""

import os
import shutil


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
