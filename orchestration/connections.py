"""The Airflow connections the DAGs alert through, built from the alert settings' variables.

Airflow reads a connection from an ``AIRFLOW_CONN_<ID>`` variable. A team sets
``SLACK_WEBHOOK_URL`` and ``SMTP_*`` once (the variables ``quality/alerts.py`` reads for the CLI),
and the local Airflow (``orchestration.home``) and the docker image's entry point both turn them
into:

- ``AIRFLOW_CONN_SLACK_ALERTS`` (``slack_alerts``): the incoming webhook, when
  ``SLACK_WEBHOOK_URL`` is set;
- ``AIRFLOW_CONN_SMTP_ALERTS`` (``smtp_alerts``): ``SMTP_HOST``:``SMTP_PORT``, the login, the
  sender, the recipients (``SMTP_TO``) and the TLS mode (``SMTP_STARTTLS``, ``SMTP_SSL``).

A connection variable that is already set is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

SLACK = "AIRFLOW_CONN_SLACK_ALERTS"
SMTP = "AIRFLOW_CONN_SMTP_ALERTS"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is not a boolean: set true or false in .env")


def alert_connections(env: Mapping[str, str]) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables (JSON form) for the alert connections ``env`` asks for."""
    conns: dict[str, str] = {}
    webhook = env.get("SLACK_WEBHOOK_URL", "").strip()
    if webhook:
        conns[SLACK] = json.dumps({"conn_type": "slackwebhook", "password": webhook})
    host = env.get("SMTP_HOST", "").strip()
    if host:
        port = env.get("SMTP_PORT", "").strip() or "25"
        if not port.isdigit():
            raise ValueError(f"SMTP_PORT={port!r} is not a port number: fix it in .env")
        smtp = {
            "conn_type": "smtp",
            "host": host,
            "port": int(port),
            "login": env.get("SMTP_USER", "").strip() or None,
            "password": env.get("SMTP_PASSWORD") or None,
            "extra": {
                "from_email": env.get("SMTP_FROM", "").strip() or "alerts@localhost",
                **({"to": env["SMTP_TO"].strip()} if env.get("SMTP_TO", "").strip() else {}),
                "disable_tls": not _flag(env, "SMTP_STARTTLS"),
                "disable_ssl": not _flag(env, "SMTP_SSL"),
            },
        }
        conns[SMTP] = json.dumps(smtp)
    return {name: value for name, value in conns.items() if not env.get(name)}
