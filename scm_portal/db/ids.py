"""Row ids taken from outside (a URL, a chat subject, a record reference)."""

BIGINT_MAX = 2**63 - 1


def row_id(ref):
    """`ref` as a row id (a positive bigint), or None when it cannot be one: the caller answers
    "not found" without asking the database, which would refuse an out-of-range literal."""
    try:
        pk = int(ref)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk <= BIGINT_MAX else None
