"""The portal's database backend: Django's PostgreSQL backend, whose pooled connections are
checked when a request takes one.

A database restart, a failover or an idle kill ends every session at once, and the connections
idle in the pool die with them unnoticed. Django can only switch on psycopg_pool's own check on
checkout (CONN_HEALTH_CHECKS): that check meets the dead connections one by one and waits after
each, twice as long every time (1 s, 2 s, 4 s, ...), so a few dead connections outlast
DB_POOL_TIMEOUT and the request fails anyway (tests/test_served_portal.py). Here the first dead
connection a checkout meets makes the pool check all its idle ones at once (psycopg_pool's
`check()`: the dead are replaced in the background), and the request goes on with a live one.
Only statements already running when the server went away can fail.

With DB_POOL=0 there is nothing to add: Django's CONN_HEALTH_CHECKS checks a persistent
connection at the start of each request.
"""

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

CHECKOUT_ATTEMPTS = 3  # a pool just checked hands out a live connection; this only bounds a flapping server


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.pool is None:
            return connection
        for attempt in range(1, CHECKOUT_ATTEMPTS + 1):
            try:
                ConnectionPool.check_connection(connection)  # one empty statement
                return connection
            except psycopg.Error:
                self.pool.putconn(connection)  # broken: the pool discards it and opens another
                if attempt == CHECKOUT_ATTEMPTS:
                    raise
                self.pool.check()  # whatever broke this one most likely broke the idle others too
                connection = super().get_new_connection(conn_params)
