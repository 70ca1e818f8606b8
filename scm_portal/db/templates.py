"""Statements built once for the hot paths: what the ORM can't give (bench/STOCK.md has the figures).

`QueryTemplate`: querysets compiled to SQL once per shape, for the few reads every request makes.
`InsertTemplate`: an INSERT of model instances built once (several rows: one array per column). `pipeline()`: psycopg's pipeline
mode, for statements that do not need each other's answers. Everything here uses public API only
(tests/test_no_private_internals.py).

Building and compiling a queryset with nested EXISTS costs milliseconds of Python per request;
the SQL only changes with the query's shape. `QueryTemplate(build)` calls `build(shape, **params)`
once per (database, shape, lengths of list parameters) with unique sentinel values, compiles it,
and records where each sentinel landed among the SQL parameters; later calls only put the
real values in those places. The queryset `build` returns stays the single statement of the
rule (it goes through the choke point like any other read).

Parameters are ints and strings, or lists of them (their lengths are part of the shape);
anything that changes the SQL text must be in `shape`. Ints must lie within their columns'
range (ids read from the database do; callers check ids that come from a request).
Compilation fails loudly when a sentinel appears in the SQL text itself or altered among the
parameters; a shape the ORM answers "no rows" for while compiling is run through the ORM.
"""

import threading
from contextlib import contextmanager

from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections

_INT_SENTINEL_BASE = -2_100_000_000  # inside every integer column's range (int32 included)
_STR_SENTINEL = "\x1esentinel:{}\x1e"
_INT64 = (-(2**63), 2**63 - 1)
_MAX_SHAPES = 256
# psycopg converts a statement's placeholders once and keeps it only while the statement has at
# most this many parameters (psycopg/_queries.py, MAX_CACHED_STATEMENT_PARAMS, psycopg 3.2+).
_CACHED_PARAMS = 50
_THROUGH_ORM = "through the ORM"


def attnames(model):
    """The model's concrete column attributes, in order: what `values_list` reads and `from_db` takes."""
    return [f.attname for f in model._meta.concrete_fields]


class QueryTemplate:
    def __init__(self, build):
        self._build = build
        self._cache = {}
        self._lock = threading.Lock()

    def rows(self, shape=None, using=DEFAULT_DB_ALIAS, **params):
        """The rows of `build(shape, **params)` (a values_list queryset), as the ORM would convert them."""
        return self.send(shape, using, **params)()

    def send(self, shape=None, using=DEFAULT_DB_ALIAS, **params):
        """Sends the query and returns a function answering its rows. Inside `pipeline()` several
        queries sent before the first answer is asked for share one round trip."""
        compiled = self._sql(shape, using, params)
        if compiled is None:
            rows = [tuple(row) for row in self._build(shape, **params).using(using)]
            return lambda: rows
        sql, values, query, fields, converters = compiled
        cursor = connections[using].cursor()
        cursor.execute(sql, values)

        def fetch():
            try:
                rows = cursor.fetchall()
            finally:
                cursor.close()
            if converters:
                rows = list(query.get_compiler(using=using).apply_converters(rows, converters))
            return [tuple(row) for row in rows]

        return fetch

    def _sql(self, shape, using, params):
        kinds = tuple(
            sorted(
                (name, tuple(type(x).__name__ for x in v) if isinstance(v, (list, tuple)) else type(v).__name__)
                for name, v in params.items()
            )
        )
        key = (using, connections[using].vendor, shape, kinds)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._compile(key, shape, using, params)
        if entry is _THROUGH_ORM:
            return None
        sql, slots, query, fields, converters = entry
        values = []
        for name, index, literal in slots:
            if name is None:
                values.append(literal)
            else:
                value = params[name] if index is None else params[name][index]
                _check_value(name, value)
                values.append(value)
        return sql, values, query, fields, converters

    def _compile(self, key, shape, using, params):
        sentinels, by_sentinel = {}, {}
        counter = 0
        for name, value in params.items():
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            made = []
            for index, item in enumerate(items):
                sentinel = _sentinel(name, item, counter)
                counter += 1
                made.append(sentinel)
                by_sentinel[sentinel] = (name, index if isinstance(value, (list, tuple)) else None)
            sentinels[name] = made if isinstance(value, (list, tuple)) else made[0]
        queryset = self._build(shape, **sentinels)
        if not queryset.query.values_select:  # values_list() names its columns there; a model query none
            raise TypeError("QueryTemplate: build() must return a values_list() queryset")
        compiler = queryset.query.get_compiler(using=using)
        try:
            sql, compiled_params = compiler.as_sql()
        except EmptyResultSet:
            # The ORM decided "no rows" while compiling (an empty IN list, a value out of a
            # column's range): that may hang on the values, so this shape runs through the ORM.
            entry = _THROUGH_ORM
            self._store(key, entry)
            return entry
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        slots = []
        for param in compiled_params:
            if isinstance(param, (int, str)) and not isinstance(param, bool) and param in by_sentinel:
                name, index = by_sentinel[param]
                slots.append((name, index, None))
            else:
                if _holds_sentinel(param, by_sentinel):
                    raise ValueError(f"QueryTemplate: a parameter was altered during compilation: {param!r}")
                slots.append((None, None, param))
        for sentinel in by_sentinel:
            if str(sentinel) in sql:
                raise ValueError(f"QueryTemplate: parameter {by_sentinel[sentinel][0]!r} was written into the SQL text")
        # The converters depend on the fields and the database only: found once, not per call.
        entry = (sql, tuple(slots), queryset.query, fields, compiler.get_converters(fields))
        self._store(key, entry)
        return entry

    def _store(self, key, entry):
        with self._lock:
            if len(self._cache) >= _MAX_SHAPES:
                self._cache.clear()
            self._cache[key] = entry


def _holds_sentinel(param, by_sentinel):
    if isinstance(param, (list, tuple, set, frozenset)):
        return any(_holds_sentinel(item, by_sentinel) for item in param)
    if isinstance(param, str):
        return "\x1esentinel:" in param
    return isinstance(param, int) and not isinstance(param, bool) and param in by_sentinel


def _sentinel(name, value, counter):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"QueryTemplate: parameter {name!r} must be an int or a str (or a list of them)")
    return _INT_SENTINEL_BASE - counter if isinstance(value, int) else _STR_SENTINEL.format(counter)


def _check_value(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"QueryTemplate: parameter {name!r} must be an int or a str (or a list of them)")
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"QueryTemplate: parameter {name!r} is out of range")


class InsertTemplate:
    """An INSERT of model instances built once per database, for the rows a hot path writes every
    time (an alert, its cards, its notifications).

    `Model.objects.bulk_create` and `save` rebuild and compile the statement on every call, which
    costs more Python than the database spends on the rows. Here each field's value goes through
    `pre_save` and `get_db_prep_save` as the ORM does (defaults, auto_now_add, JSON), into SQL
    built once. A few rows go as VALUES rows; more than 50 parameters' worth on PostgreSQL go as
    one array per column (`INSERT ... SELECT * FROM unnest(%s::type[], ...)`, as bulk_create
    does there), so the statement's text and its parameter count stay the same whatever the
    number of rows: psycopg converts a statement of more than 50 parameters afresh on every
    execution. A 200-message escalation batch as VALUES rows (4,400 parameters) cost 26-32 ms of
    client CPU and 120-140 ms in all; as arrays 14-15 ms and 66-79 ms (same machine, alternated). `conflict`: an ON CONFLICT clause (e.g.
    "ON CONFLICT DO NOTHING"); `insert` answers the `returning` columns of the rows written, in
    the order given when nothing conflicts, and sets each instance's pk when it can tell which
    is which (no conflict clause).
    """

    _store_lock = threading.Lock()

    def __init__(self, model, *, conflict="", returning=("id",)):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.conflict = conflict
        self.returning = tuple(returning)
        self._sql = {}

    def _unnest_types(self, connection):
        """The column types to unnest arrays of on this database, or None where rows go as VALUES
        (not PostgreSQL, or a field whose values an array cannot carry: the rule of Django's own
        bulk_create there)."""
        if connection.vendor != "postgresql":
            return None
        for field in self.fields:
            target = field.target_field if field.is_relation else field
            if hasattr(field, "get_placeholder") or target.get_internal_type() not in connection.data_types:
                return None
        # Without the type's modifiers (varchar[], not varchar(64)[]): nothing is cut on the way.
        return [field.db_type(connection).split("(")[0] for field in self.fields]

    def _statement(self, connection, count):
        # A few rows stay VALUES rows: psycopg keeps the conversion of a statement of up to 50
        # parameters, and an insert of two cards costs half the CPU that way (arrays cost more
        # to dump); past that, VALUES rows are converted afresh each time and arrays win.
        unnest = count * len(self.fields) > _CACHED_PARAMS and self._unnest_types(connection) is not None
        key = (connection.alias, "unnest" if unnest else count)
        sql = self._sql.get(key)
        if sql is None:
            quote = connection.ops.quote_name
            if unnest:
                rows = "SELECT * FROM unnest(" + ", ".join(f"(%s)::{t}[]" for t in self._unnest_types(connection)) + ")"
            else:
                row = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
                rows = f"VALUES {', '.join([row] * count)}"
            sql = (
                f"INSERT INTO {quote(self.model._meta.db_table)} ({', '.join(quote(f.column) for f in self.fields)}) "
                f"{rows} {self.conflict}"
                + (f" RETURNING {', '.join(quote(c) for c in self.returning)}" if self.returning else "")
            )
            with self._store_lock:
                if len(self._sql) >= _MAX_SHAPES:
                    self._sql.clear()
                self._sql[key] = sql
        return sql, unnest

    def insert(self, objs, using=DEFAULT_DB_ALIAS):
        if not objs:
            return []
        connection = connections[using]
        sql, unnest = self._statement(connection, len(objs))
        rows_of_values = [
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in self.fields] for obj in objs
        ]
        # unnest: one array per column, the rows in the order given.
        values = [list(column) for column in zip(*rows_of_values)] if unnest else [v for row in rows_of_values for v in row]
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            # Without RETURNING nothing is fetched: inside pipeline() the statement does not wait.
            rows = cursor.fetchall() if self.returning else []
        if not self.conflict and self.returning and self.returning[0] == self.model._meta.pk.column:
            for obj, row in zip(objs, rows, strict=True):
                obj.pk = row[0]
                obj._state.adding, obj._state.db = False, using
        return rows


@contextmanager
def pipeline(using=DEFAULT_DB_ALIAS):
    """On PostgreSQL, statements run inside are sent without waiting for each answer (psycopg's
    pipeline mode, `Connection.pipeline()`): asking for a result sends everything queued so far
    and waits once, so several statements that do not need each other's answers share a round
    trip.

    psycopg decides when the block waits: the BEGIN of a transaction on its own, the answers
    asked for (a Flush), and the way out of the block (a Sync). Errors surface at the next answer
    or at the end of the block, as Django's database errors."""
    connection = connections[using]
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
