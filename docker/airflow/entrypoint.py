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
"""

from __future__ import annotations

import os
import sys

from orchestration.connections import alert_connections

__all__ = ["alert_connections", "main"]


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py COMMAND [ARG...]  (e.g. airflow scheduler)")
    try:
        os.environ.update(alert_connections(os.environ))
    except ValueError as exc:
        sys.exit(f"entrypoint: {exc}")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
