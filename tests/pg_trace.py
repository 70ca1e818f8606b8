"""What a PostgreSQL connection says on the wire, from libpq's own trace (for tests that count
round trips: every Sync, Flush or simple Query the client sends waits for the server once)."""

import tempfile
from contextlib import contextmanager

from django.db import connection

WAITS = ("Sync", "Flush", "Query")


@contextmanager
def libpq_trace():
    """The protocol messages exchanged inside the block, as [direction ("F" sent, "B" received),
    length, message type, the whole line]."""
    from psycopg import pq

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    lines = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield lines
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines += [line.rstrip("\n").split("\t")[:3] + [line.strip()] for line in trace]


def sent(lines, kind):
    return [line for line in lines if line[0] == "F" and line[2] == kind]


def round_trips(lines):
    return sum(len(sent(lines, kind)) for kind in WAITS)
