import os
import threading

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm_portal.settings.base")

app = Celery("scm_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(lambda: ["scm_portal.tenancy", "messaging", "alerts", "orders", "inventory", "finance"])
app.autodiscover_tasks(lambda: ["audit"], related_name="retention_tasks")


_publisher = {"pid": None, "loop": None}
_publisher_lock = threading.Lock()


def start_publisher_loop():
    """One long-lived event loop (in a daemon thread) for this process's socket publishes.

    Outside the server (Celery worker processes, a scheduler thread without a server loop,
    commands), each publish would otherwise go through async_to_sync: a new event loop and a new
    Redis connection per call. Leaves a running server loop alone (the ASGI lifespan sets it;
    the in-memory layer's queues live there), and does nothing with the in-memory layer, which
    no other process can reach anyway. Safe to call more than once; returns the loop or None.
    """
    import asyncio

    from channels.layers import InMemoryChannelLayer, get_channel_layer

    import realtime

    with _publisher_lock:
        pid = os.getpid()
        if _publisher["pid"] == pid:
            return _publisher["loop"]
        current = realtime.server_loop()
        if current is not None and current.is_running() and current is not _publisher["loop"]:
            return None  # the server's own loop (same process, not inherited through fork)
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            return None
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="publisher-loop", daemon=True).start()
        realtime.set_server_loop(loop)
        _publisher.update(pid=pid, loop=loop)
        return loop


@signals.worker_process_init.connect
def _publisher_for_worker_process(**_kwargs):
    # In each pool process (prefork children, the solo pool), after any fork: a loop's thread
    # does not survive fork, so the parent's would be dead here.
    start_publisher_loop()


@signals.worker_process_shutdown.connect
def _flush_publishes_at_shutdown(**_kwargs):
    # Publishes are handed to the loop without waiting; let the last ones go out before exit.
    import realtime

    try:
        realtime.flush_publishes(timeout=5.0)
    except Exception:
        pass  # clients recover anything lost with their next sync
