"""Entry point of the stack's image: set the alert connections, then run the command.

Airflow reads a connection from an ``AIRFLOW_CONN_<ID>`` variable. The two the DAGs alert
through are built here from the variables ``quality/alerts.py`` reads, so a team sets
``SLACK_WEBHOOK_URL`` and ``SMTP_*`` once, in ``.env``:

- ``AIRFLOW_CONN_SLACK_ALERTS`` (``slack_alerts``): the incoming webhook, when
  ``SLACK_WEBHOOK_URL`` is set (unset: no Slack, as in ``quality/alerts.py``);
- ``AIRFLOW_CONN_SMTP_ALERTS`` (``smtp_alerts``): ``SMTP_HOST``:``SMTP_PORT``, the login, the
  sender and the TLS mode (``SMTP_STARTTLS``, ``SMTP_SSL``); docker-compose.yml points it at
  the mail catcher unless ``.env`` names another server.

A connection variable that is already set (in a compose override, say) is left alone.

Where ``STACK_SECRETS_DIR`` is set (the Airflow services), the stack's secrets that ``.env``
leaves empty (Fernet key, JWT and API secrets, PII hash key) are read from that folder, made on
the first start: see ``stack_secrets.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from stack_secrets import stack_secrets

from orchestration.connections import alert_connections

__all__ = ["alert_connections", "main", "service_env"]


def service_env(env: Mapping[str, str]) -> dict[str, str]:
    """What the entry point adds to a service's environment: the alert connections, and the
    stack's secrets where ``STACK_SECRETS_DIR`` is set."""
    added = alert_connections(env)
    if env.get("STACK_SECRETS_DIR"):
        added.update(stack_secrets(env, Path(env["STACK_SECRETS_DIR"])))
    return added


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py COMMAND [ARG...]  (e.g. airflow scheduler)")
    try:
        os.environ.update(service_env(os.environ))
    except ValueError as exc:
        sys.exit(f"entrypoint: {exc}")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
