"""The embedded scheduler: runs CELERY_BEAT_SCHEDULE inside the server process.

Used when there is no broker (the embedded default). The tasks are the same ones
`celery beat` sends in production; only the trigger differs. Each entry runs in this one
thread, one at a time, and a failing task is logged and retried at its next tick.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = threading.Event()


def _interval(schedule):
    if hasattr(schedule, "total_seconds"):
        return schedule.total_seconds()
    if hasattr(schedule, "run_every"):
        return schedule.run_every.total_seconds()
    return float(schedule)


def run_due(entries, now, last_run, *, app):
    """Runs every entry whose interval has passed since its last run; returns the names run."""
    ran = []
    for name, entry in entries.items():
        interval = _interval(entry["schedule"])
        if now - last_run.get(name, float("-inf")) < interval:
            continue
        last_run[name] = now
        try:
            close_old_connections()
            app.tasks[entry["task"]].apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
            ran.append(name)
        except Exception:
            logger.exception("Scheduled task %s failed; it runs again at its next tick", name)
        finally:
            close_old_connections()
    return ran


def _loop(stop, tick):
    from scm_portal.celery import app, start_publisher_loop

    app.loader.import_default_modules()
    start_publisher_loop()  # a no-op under the ASGI server, whose own loop publishes
    last_run = {}
    while not stop.is_set():
        run_due(settings.CELERY_BEAT_SCHEDULE, time.monotonic(), last_run, app=app)
        stop.wait(tick)


def start_embedded_scheduler(tick=1.0):
    """Starts the scheduler thread once per process; returns its stop event (or None)."""
    if not settings.EMBEDDED_SCHEDULER or _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    threading.Thread(target=_loop, args=(stop, tick), name="embedded-scheduler", daemon=True).start()
    logger.info("Embedded scheduler started (%d periodic tasks)", len(settings.CELERY_BEAT_SCHEDULE))
    return stop
