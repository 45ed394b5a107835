"""The stack's own secrets, made on first start and kept in a volume, never in the repository.

A value set in ``.env`` wins; an empty one is made once by ``airflow-init`` (which every other
Airflow service waits for) and written to ``$STACK_SECRETS_DIR`` (``/opt/airflow/secrets`` in
the ``airflow-home`` volume, readable by the containers' user only). The image's entry point
(``entrypoint.py``) puts them in each Airflow service's environment before Airflow starts:

| setting | set in .env as | made when empty |
| --- | --- | --- |
| ``AIRFLOW__CORE__FERNET_KEY`` | ``AIRFLOW_FERNET_KEY`` | a Fernet key (encrypts connections, variables) |
| ``AIRFLOW__API_AUTH__JWT_SECRET`` | ``AIRFLOW_JWT_SECRET`` | 32 random bytes (signs task tokens) |
| ``AIRFLOW__API__SECRET_KEY`` | ``AIRFLOW_API_SECRET_KEY`` | 32 random bytes (API server sessions) |
| ``PII_HASH_KEY`` | ``PII_HASH_KEY`` | 32 random bytes, hex (dbt's keyed PII hashes) |

The Airflow UI login ``admin`` gets ``AIRFLOW_ADMIN_PASSWORD``, or a password made on first
start and printed once, in airflow-init's log (``docker compose logs airflow-init``).

``python stack_secrets.py admin-password`` writes the UI's passwords file (airflow-init runs it).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


#: Airflow/platform setting -> the maker of a new value
SECRETS: dict[str, Callable[[], str]] = {
    "AIRFLOW__CORE__FERNET_KEY": _fernet_key,
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: secrets.token_urlsafe(32),
    "AIRFLOW__API__SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "PII_HASH_KEY": lambda: secrets.token_hex(32),
}


def _write_once(path: Path, value: str) -> bool:
    """Write ``value`` to ``path`` (mode 0600) unless it exists; True when this call wrote it.
    Atomic: of two processes making the same secret at once, one value wins for both."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    try:
        os.link(draft, path)
        return True
    except FileExistsError:
        return False
    finally:
        draft.unlink()


def stack_secrets(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """The value of every secret ``env`` leaves empty: read from ``directory``, made if absent."""
    values = {}
    for name, make in SECRETS.items():
        if env.get(name):
            continue
        path = directory / name
        if not path.exists():
            _write_once(path, make())
        values[name] = path.read_text().strip()
    return values


def admin_password(env: Mapping[str, str]) -> str:
    """Write the simple auth manager's passwords file for the first user of
    ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS``; returns the line to print. A password made
    here is in that line this once only; later runs keep it and say so."""
    users = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    admin = users.split(",")[0].split(":")[0].strip()
    path = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    given = env.get("AIRFLOW_ADMIN_PASSWORD", "")
    if given:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({admin: given}) + "\n")
        return f"Airflow UI login: user {admin!r}, password AIRFLOW_ADMIN_PASSWORD from .env"
    password = secrets.token_urlsafe(18)
    if _write_once(path, json.dumps({admin: password})):
        return (
            f"Airflow UI login: user {admin!r}, password {password} (made now and shown only "
            f"this once; kept in {path}. To choose your own, set AIRFLOW_ADMIN_PASSWORD in .env)"
        )
    if admin not in json.loads(path.read_text()):
        raise SystemExit(
            f"{path} has no password for {admin!r}: delete it and run airflow-init again"
        )
    return (
        f"Airflow UI login: user {admin!r}, password unchanged (made on the first start; to "
        f"reset it, delete {path} or set AIRFLOW_ADMIN_PASSWORD, then run airflow-init again)"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["admin-password"]:
        sys.exit("usage: stack_secrets.py admin-password")
    print(admin_password(os.environ))
