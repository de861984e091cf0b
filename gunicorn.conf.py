"""gunicorn reads this file from the working directory. For /metrics in multi-process mode
(``PROMETHEUS_MULTIPROC_DIR`` set): prometheus-client keeps each worker's values in files there,
so the folder must start empty (stale files of a previous run would be added in) and a dead
worker's live gauges must stop counting. Without the variable that part does nothing.

Each worker, once it has built the app, moves what exists then out of the garbage collector's
sight (``gc.freeze``): the app's ~200,000 objects — mappers, schemas, routes, compiled
statements — live as long as the worker, yet every full collection walked them all, about a
twenty-fifth of a booking's time on average. Collections still run; they look at the objects
made after start-up (docs/decisions.md #103)."""

import gc
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


def post_worker_init(worker):
    gc.collect()  # what start-up left unreachable goes now, not frozen for the worker's life
    gc.freeze()
