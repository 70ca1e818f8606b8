"""Deterministic interleavings of two writers, for the lock-order tests (docs/ARCHITECTURE.md,
"Lock order").

One side runs until a paused function (it then holds its first locks), the other runs until
PostgreSQL shows it waiting for a lock (or it is done), then the first goes on. Two writers that
take their locks out of order deadlock there: PostgreSQL aborts one of them (DeadlockDetected),
and its Side re-raises it.
"""

import threading
import time

from django.db import connection, connections


class Side(threading.Thread):
    """One side of a race, on its own database connection; keeps its answer or its exception."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.result, self.error = work, None, None

    def run(self):
        try:
            self.result = self.work()
        except BaseException as exc:  # reported by outcome()
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self):
        self.join(30)
        assert not self.is_alive(), "still running: waiting for a lock that is never released"
        if self.error is not None:
            raise self.error
        return self.result


def pause(monkeypatch, owner, name, after=False):
    """The first call of owner.<name> (a module's function, looked up there by its callers) stops,
    before it runs or after, until released. Returns (reached, release) events."""
    original = getattr(owner, name)
    reached, release = threading.Event(), threading.Event()

    def paused(*args, **kwargs):
        first = not reached.is_set()
        if first and not after:
            reached.set()
            assert release.wait(30)
        result = original(*args, **kwargs)
        if first and after:
            reached.set()
            assert release.wait(30)
        return result

    monkeypatch.setattr(owner, name, paused)
    return reached, release


def wait_until_blocked(side, timeout=10):
    """Until a backend of this test database waits for a lock, or `side` is done."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and side.is_alive():
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # statistics views are read once per transaction
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)


def race(first, second, reached, release):
    """`first` runs to its pause, `second` until it waits (or is done), then both finish."""
    first.start()
    assert reached.wait(10), "the first side never reached its pause"
    second.start()
    wait_until_blocked(second)
    release.set()
    return first, second
