"""The development SECRET_KEY: random, made once per checkout, kept in a git-ignored file.

Development (PORTAL_ENV=development, what `make run` serves) without SECRET_KEY signs sessions and
tokens with it, so logins survive a restart and no two checkouts share a key. Production never
reads it: it refuses to start without SECRET_KEY (scm_portal/settings/base.py).
"""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def checkout_secret_key(path):
    """The key in `path`, created (mode 0600) if missing. Processes starting together (make run's
    commands, parallel test servers) agree on one key: the file is published with a hard link,
    which fails when another process got there first."""
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    scratch = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
    finally:
        scratch.unlink(missing_ok=True)
    return _read(path)


def _read(path):
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(f"{path} holds no usable secret key: delete it, and a new one is made.")
    return key
