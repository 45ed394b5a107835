"""Alerts: one format rendered for Slack and email, delivered to real local receivers.

A webhook receiver (http.server in a thread) and an SMTP server (aiosmtpd) listen on 127.0.0.1
for the whole module; each test asserts on what arrived. The end-to-end tests run a real Airflow
DAG whose task fails, in a subprocess with its own AIRFLOW_HOME and SQLite metadata database,
and check the failure alert arrives on both channels through Airflow connections (as do the
alerts of a real dbt run's warned and failed tests, sent from a task).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from quality.alerts import Alert, AlertSettings, Suppressor, to_email, to_slack
from quality.notify import (
    AlertDeliveryError,
    pipeline_summary_alert,
    send_alert,
    send_webhook,
)

ROOT = Path(__file__).resolve().parent.parent
DBT = Path(sys.executable).parent / "dbt"
ERROR = "ValueError: 3 rows rejected in <orders> & 'order_lines'"
LOG_URL = (
    "http://airflow.example:8080/dags/ingest_daily/runs/manual__1/tasks/load_bronze?try_number=2"
)


# --------------------------------------------------------------------------- receivers
class WebhookReceiver:
    """Records every POST; answers HTTP 500 on paths under /status/500."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type", ""),
                        "json": json.loads(body),
                    }
                )
                status, answer = (
                    (500, b"internal_error") if "/status/500" in self.path else (200, b"ok")
                )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/services/T000/B000/secret-token") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def payloads(self) -> list[dict]:
        return [r["json"] for r in self.requests]


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "message": message_from_bytes(envelope.content, policy=email_policy.default),
            }
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def webhook_server():
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
def smtp_server():
    handler = MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def webhook(webhook_server) -> WebhookReceiver:
    webhook_server.requests.clear()
    return webhook_server


@pytest.fixture
def mailbox(smtp_server) -> MailHandler:
    _, handler = smtp_server
    handler.messages.clear()
    return handler


@pytest.fixture
def settings(webhook, smtp_server, mailbox, tmp_path) -> AlertSettings:
    controller, _ = smtp_server
    return AlertSettings.from_env(
        {
            "SLACK_WEBHOOK_URL": webhook.url(),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(controller.port),
            "SMTP_FROM": "airflow@example.com",
            "SMTP_TO": "oncall@example.com, data-team@example.com",
            "ALERT_STATE_PATH": str(tmp_path / "alerts" / "state.sqlite"),
        }
    )


def task_failure() -> Alert:
    return Alert(
        severity="error",
        source="airflow",
        title="Task load_bronze failed in ingest_daily",
        where="dag ingest_daily / task load_bronze",
        since=datetime(2026, 1, 5, 6, 30, tzinfo=UTC),
        link=LOG_URL,
        details=(
            ("DAG", "ingest_daily"),
            ("Task", "load_bronze"),
            ("Logical date", datetime(2026, 1, 5, tzinfo=UTC)),
            ("Try", "2 of 3"),
            ("Error", ERROR),
        ),
    )


def _block_text(payload: dict) -> str:
    """Everything a reader sees in the Block Kit message, as one string."""
    return json.dumps(payload["blocks"], ensure_ascii=False)


def _parts(message) -> tuple[str, str]:
    html = message.get_body(preferencelist=("html",)).get_content()
    plain = message.get_body(preferencelist=("plain",))
    return html, plain.get_content() if plain is not None else ""


# --------------------------------------------------------------------------- rendering + delivery
def test_slack_message_names_dag_task_date_try_error_and_log_link(settings, webhook):
    assert send_alert(task_failure(), settings) == ["slack", "email"]

    [request] = webhook.requests
    assert request["path"] == "/services/T000/B000/secret-token"
    assert request["content_type"].startswith("application/json")
    payload = request["json"]
    assert "Task load_bronze failed in ingest_daily" in payload["text"]
    blocks = {block["type"]: block for block in payload["blocks"]}
    assert "Task load_bronze failed" in blocks["header"]["text"]["text"]
    fields = [f["text"] for f in blocks["section"]["fields"]]
    assert "*DAG*\ningest_daily" in fields
    assert "*Task*\nload_bronze" in fields
    assert "*Logical date*\n2026-01-05 00:00:00 UTC" in fields
    assert "*Try*\n2 of 3" in fields
    # Slack mrkdwn: <, > and & are escaped so the error cannot turn into a link or mention
    assert "*Error*\nValueError: 3 rows rejected in &lt;orders&gt; &amp; 'order_lines'" in fields
    [button] = blocks["actions"]["elements"]
    assert button["url"] == LOG_URL
    assert button["text"]["text"] == "Open task log"
    assert "ERROR" in blocks["context"]["elements"][0]["text"]


def test_email_subject_and_html_name_the_failure_with_html_escaped(settings, mailbox):
    send_alert(task_failure(), settings)

    [mail] = mailbox.messages
    assert mail["from"] == "airflow@example.com"
    assert mail["to"] == ["oncall@example.com", "data-team@example.com"]
    message = mail["message"]
    assert message["Subject"] == (
        "[ERROR] Task load_bronze failed in ingest_daily · dag ingest_daily / task load_bronze"
    )
    html, plain = _parts(message)
    for shown in ("ingest_daily", "load_bronze", "2026-01-05 00:00:00 UTC", "2 of 3"):
        assert shown in html
        assert shown in plain
    assert "3 rows rejected in &lt;orders&gt; &amp; &#39;order_lines&#39;" in html
    assert "<orders>" not in html
    assert f'href="{LOG_URL.replace("&", "&amp;")}"' in html
    assert ERROR in plain  # the plain-text part shows the error as it was
    assert LOG_URL in plain


def test_alert_values_cannot_inject_markup_or_links(settings, webhook, mailbox):
    alert = Alert(
        severity="warning",
        source="gx",
        title='Expectation failed: <script>alert("x")</script>',
        where="bronze.orders.quantity",
        deviation="12 rows < 0",
        link="javascript:alert(1)",
    )
    send_alert(alert, settings)

    html, _ = _parts(mailbox.messages[0]["message"])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "javascript:" not in html  # not a clickable link
    blocks = {b["type"] for b in webhook.payloads()[0]["blocks"]}
    assert "actions" not in blocks  # no button for a non-http link


def test_repeat_within_interval_is_suppressed_then_sent_again_after_it(settings, webhook, mailbox):
    now = [1_000_000.0]
    suppressor = Suppressor(settings.state_path, timedelta(minutes=30), clock=lambda: now[0])

    assert send_alert(task_failure(), settings, suppressor) == ["slack", "email"]
    now[0] += 29 * 60
    assert send_alert(task_failure(), settings, suppressor) == []
    assert send_alert(task_failure(), settings, suppressor) == []
    assert len(webhook.requests) == 1
    assert len(mailbox.messages) == 1

    now[0] += 60  # 30 minutes after the first send
    assert send_alert(task_failure(), settings, suppressor) == ["slack", "email"]
    assert len(webhook.requests) == 2
    assert len(mailbox.messages) == 2
    assert "Repeats held back" in _block_text(webhook.payloads()[1])
    assert "2 since the last one" in _block_text(webhook.payloads()[1])


def test_suppression_is_per_alert_and_configured_from_env(settings, webhook, tmp_path):
    assert send_alert(task_failure(), settings) == ["slack", "email"]
    other_task = Alert(
        severity="error", source="airflow", title="Task dbt_build failed", where="dag transform"
    )
    assert send_alert(other_task, settings) == ["slack", "email"]
    assert send_alert(task_failure(), settings) == []  # default window: 60 minutes

    no_window = AlertSettings.from_env(
        {
            "SLACK_WEBHOOK_URL": webhook.url(),
            "ALERT_SUPPRESS_MINUTES": "0",
            "ALERT_STATE_PATH": str(tmp_path / "other.sqlite"),
        }
    )
    assert send_alert(task_failure(), no_window) == ["slack"]
    assert send_alert(task_failure(), no_window) == ["slack"]
    assert not (tmp_path / "other.sqlite").exists()


def _admit_in_another_process(path: str, key: str, go, results) -> None:
    go.wait(30)
    results.put(Suppressor(path, timedelta(minutes=60)).should_send(key))


def test_suppressor_lets_one_of_many_concurrent_processes_send(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    path = str(tmp_path / "state.sqlite")
    workers = [
        ctx.Process(
            target=_admit_in_another_process, args=(path, "gx|bronze.orders|x", go, results)
        )
        for _ in range(6)
    ]
    for worker in workers:
        worker.start()
    go.set()
    answers = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sorted(answers) == [False] * 5 + [True]


def test_unconfigured_channels_are_skipped_and_logged(
    webhook, mailbox, tmp_path, caplog, monkeypatch
):
    import quality.notify

    monkeypatch.setattr(quality.notify, "_logged_once", set())  # as in a fresh process
    state = str(tmp_path / "state.sqlite")
    slack_only = AlertSettings.from_env(
        {"SLACK_WEBHOOK_URL": webhook.url(), "ALERT_STATE_PATH": state}
    )
    caplog.set_level("INFO", logger="quality.notify")

    assert send_alert(task_failure(), slack_only) == ["slack"]
    assert len(webhook.requests) == 1
    assert mailbox.messages == []
    assert "email not configured (SMTP_HOST or SMTP_TO unset): skipped" in caplog.text

    nothing = AlertSettings.from_env({"ALERT_STATE_PATH": state, "SMTP_HOST": "127.0.0.1"})
    assert send_alert(task_failure(), nothing) == []
    assert "no alert channel configured" in caplog.text
    assert len(webhook.requests) == 1


NO_CHANNEL_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
from quality.alerts import Alert, AlertSettings
from quality.notify import send_alert
settings = AlertSettings.from_env({"ALERT_STATE_PATH": sys.argv[1]})
for n in range(3):
    assert send_alert(Alert("warning", "gx", f"check {n} failed", "bronze.orders"), settings) == []
"""


def test_no_alert_channel_is_said_once_per_process_at_info(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", NO_CHANNEL_SCRIPT, str(tmp_path / "state.sqlite")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line for line in done.stdout.splitlines() if "no alert channel configured" in line]
    assert said == [
        "INFO no alert channel configured (set SLACK_WEBHOOK_URL, or SMTP_HOST and SMTP_TO): "
        "alerts are not sent"
    ]
    assert "WARNING" not in done.stdout + done.stderr
    assert not (tmp_path / "state.sqlite").exists()  # nothing to suppress: nothing recorded


def test_webhook_http_500_raises_an_error_naming_host_and_status(webhook):
    url = webhook.url("/status/500/T000/B000/secret-token")
    with pytest.raises(AlertDeliveryError) as caught:
        send_webhook(url, {"text": "hello"})
    message = str(caught.value)
    assert f"webhook at 127.0.0.1:{webhook.port} answered HTTP 500" in message
    assert "internal_error" in message
    assert "secret-token" not in message  # the token in the path is a secret


def test_unreachable_webhook_raises_an_error_naming_the_host():
    port = _free_port()
    with pytest.raises(
        AlertDeliveryError, match=f"could not reach the webhook at 127.0.0.1:{port}"
    ):
        send_webhook(f"http://127.0.0.1:{port}/hook", {"text": "hello"}, timeout=5)


def test_a_failing_channel_does_not_stop_the_other(settings, webhook, mailbox):
    broken_slack = AlertSettings.from_env(
        {
            "SLACK_WEBHOOK_URL": webhook.url("/status/500/hook"),
            "SMTP_HOST": settings.smtp_host,
            "SMTP_PORT": str(settings.smtp_port),
            "SMTP_TO": "oncall@example.com",
            "ALERT_STATE_PATH": str(settings.state_path),
        }
    )
    with pytest.raises(
        AlertDeliveryError, match=r"not delivered by slack: .*HTTP 500.*\(delivered by: email\)"
    ):
        send_alert(task_failure(), broken_slack)
    assert len(mailbox.messages) == 1
    assert send_alert(task_failure(), broken_slack, raise_errors=False) == []  # now suppressed


def test_pipeline_summary_is_an_info_alert_with_readable_stats(settings, webhook, mailbox):
    alert = pipeline_summary_alert(
        "Daily pipeline finished for 2026-01-05",
        {"rows_loaded": 28664, "rows_rejected": 0, "dbt_tests_passed": 412, "dbt_tests_failed": 0},
        link="http://airflow.example:8080/dags/ingest_daily",
    )
    assert alert.severity == "info"
    assert alert.source == "pipeline"
    send_alert(alert, settings)

    fields = [f["text"] for f in webhook.payloads()[0]["blocks"][1]["fields"]]
    assert "*Rows loaded*\n28,664" in fields
    assert "*Dbt tests passed*\n412" in fields
    assert "*Dbt tests failed*\n0" in fields
    html, plain = _parts(mailbox.messages[0]["message"])
    assert "Rows loaded: 28,664" in plain
    assert "28,664" in html
    assert mailbox.messages[0]["message"]["Subject"].startswith("[INFO] Daily pipeline finished")


def test_many_details_are_split_over_sections_within_slack_limits():
    details = tuple((f"Table {i}", "x" * 3000) for i in range(14))
    payload = to_slack(Alert("warning", "freshness", "t" * 200, "marts", details=details))
    assert len(payload["blocks"][0]["text"]["text"]) <= 150
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    assert [len(s["fields"]) for s in sections] == [10, 5]  # Where + 14 details
    assert all(len(f["text"]) <= 2000 for s in sections for f in s["fields"])


def test_alert_rejects_an_unknown_severity_and_flattens_multiline_titles():
    with pytest.raises(ValueError, match="severity 'critical' is not one of info, warning, error"):
        Alert("critical", "gx", "x", "y")
    alert = Alert("info", "dbt", "two\nlines", "here")
    assert alert.title == "two lines"
    assert alert.key == "dbt|here|two lines"
    subject, _, _ = to_email(alert)
    assert "\n" not in subject


def test_settings_read_the_environment_with_clear_errors():
    s = AlertSettings.from_env(
        {
            "SMTP_HOST": "mail.example.com",
            "SMTP_PORT": "587",
            "SMTP_STARTTLS": "true",
            "SMTP_TO": "a@example.com; b@example.com",
            "ALERT_SUPPRESS_MINUTES": "15",
        }
    )
    assert (s.smtp_port, s.smtp_starttls, s.smtp_to) == (
        587,
        True,
        ("a@example.com", "b@example.com"),
    )
    assert s.suppress_minutes == 15
    assert s.email_configured and not s.slack_configured
    assert s.state_path == ROOT / ".local" / "alerts" / "state.sqlite"
    with pytest.raises(ValueError, match="SMTP_PORT='smtp' is not a int"):
        AlertSettings.from_env({"SMTP_PORT": "smtp"})
    with pytest.raises(ValueError, match="SMTP_STARTTLS='maybe' is not a boolean"):
        AlertSettings.from_env({"SMTP_STARTTLS": "maybe"})


# --------------------------------------------------------------------------- a real dbt run
TINY_DBT = {
    "dbt_project.yml": """
name: tiny
version: "1.0"
config-version: 2
profile: tiny
on-run-start:
  - "create or replace table main.raw_events as select * from (values (1, 10), (2, null), (3, null)) as t (event_id, customer_id)"
""",
    "profiles.yml": """
tiny:
  target: dev
  outputs:
    dev: {type: duckdb, path: "{{ env_var('TINY_DUCKDB') }}", threads: 1}
""",
    "models/orders.sql": (
        "select * from (values (1, 'placed'), (2, 'lost'), (2, 'placed')) as t (order_id, status)"
    ),
    "models/_models.yml": """
sources:
  - name: raw
    schema: main
    tables:
      - name: raw_events
        columns:
          - name: customer_id
            data_tests:
              - not_null: {config: {severity: warn}}
models:
  - name: orders
    columns:
      - name: order_id
        data_tests: [unique]
      - name: status
        data_tests:
          - accepted_values:
              arguments: {values: [placed, shipped]}
              config: {severity: warn}
""",
    "tests/orders_have_a_customer.sql": "select customer_id from {{ ref('orders') }}",
}


def build_tiny_dbt(work: Path) -> Path:
    """Run a real ``dbt build`` of a tiny DuckDB project under ``work`` whose tests warn (a model
    column, a source column), fail (a unique key) and error (a broken singular test); return
    its target directory (run_results.json + manifest.json)."""
    for name, text in TINY_DBT.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text.lstrip())
    paths = ["--project-dir", str(work), "--profiles-dir", str(work)]
    paths += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    done = subprocess.run(
        [str(DBT), "build", *paths, "--no-version-check"],
        cwd=work,
        env={**os.environ, "TINY_DUCKDB": str(work / "tiny.duckdb")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "PASS=2 WARN=2 ERROR=2" in done.stdout, done.stdout[-3000:]
    return work / "target"


# --------------------------------------------------------------------------- Airflow end to end
DAG_FILE = """
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import dag, task

from quality.notify import (
    failure_callback,
    pipeline_summary_alert,
    send_alert_via_connections,
    task_failure_callback,
)


@dag(
    dag_id="alerts_e2e",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"owner": "data-platform", "retries": 0},
)
def alerts_e2e():
    @task(on_failure_callback=task_failure_callback)
    def load_bronze():
        raise ValueError(
            "bronze load failed\\n3 rows rejected in <orders> & 'order_lines'"
        )

    @task
    def summary():
        alert = pipeline_summary_alert("Daily pipeline finished", {"rows_loaded": 12345})
        sent = send_alert_via_connections(alert, slack_conn_id="slack_not_defined")
        Path(os.environ["ALERTS_E2E_OUT"]).write_text(json.dumps(sent))

    @task(on_failure_callback=failure_callback("slack_broken", "smtp_broken"))
    def transform():
        raise RuntimeError("dbt build failed: 2 tests failed")

    @task
    def dbt_test_results():
        from quality.tasks import dbt_results_task

        Path(os.environ["ALERTS_E2E_DBT"]).write_text(json.dumps(dbt_results_task()))

    load_bronze()
    summary()
    transform()
    dbt_test_results()


the_dag = alerts_e2e()

if __name__ == "__main__":
    run = the_dag.test(logical_date=datetime(2026, 1, 5, tzinfo=timezone.utc))
    print("DAGRUN_STATE=" + str(run.state))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print("TASK_STATES=" + json.dumps(states, sort_keys=True))
"""


@pytest.fixture(scope="module")
def airflow_run(tmp_path_factory, webhook_server, smtp_server):
    """Run the DAG once with ``dag.test()`` in a fresh Airflow home; return what it reported."""
    controller, handler = smtp_server
    webhook_server.requests.clear()
    handler.messages.clear()
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "dags").mkdir()
    (home / "dags" / "alerts_e2e.py").write_text(DAG_FILE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "SLACK_", "SMTP_", "ALERT_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # the UI people reach (Airflow's own api.base_url is unset: no localhost:8080)
            "AIRFLOW_BASE_URL": "http://airflow.example:8080",
            "DOCS_BASE_URL": "http://docs.example:8090",
            "AIRFLOW_CONN_SLACK_ALERTS": json.dumps(
                {
                    "conn_type": "slackwebhook",
                    "host": f"http://127.0.0.1:{webhook_server.port}/services",
                    "password": "T000/B000/e2e-token",
                }
            ),
            "AIRFLOW_CONN_SMTP_ALERTS": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": controller.port,
                    "extra": {
                        "disable_ssl": True,
                        "disable_tls": True,
                        "from_email": "airflow@example.com",
                        "to": "oncall@example.com",
                        "timeout": 10,
                    },
                }
            ),
            # a webhook that answers HTTP 500 (whole URL in the password) and no SMTP server
            "AIRFLOW_CONN_SLACK_BROKEN": json.dumps(
                {
                    "conn_type": "slackwebhook",
                    "password": webhook_server.url("/status/500/T000/B000/broken-token"),
                }
            ),
            "AIRFLOW_CONN_SMTP_BROKEN": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": _free_port(),
                    "extra": {"disable_ssl": True, "disable_tls": True, "to": "x@example.com"},
                }
            ),
            "ALERT_STATE_PATH": str(home / "alert_state.sqlite"),
            "ALERTS_E2E_OUT": str(home / "summary_channels.json"),
            "ALERTS_E2E_DBT": str(home / "dbt_results.json"),
            "QUALITY_DBT_TARGET": str(build_tiny_dbt(tmp_path_factory.mktemp("tiny_dbt"))),
            "PYTHONPATH": str(ROOT),
        }
    )
    airflow = Path(sys.executable).parent / "airflow"
    migrate = subprocess.run(
        [str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, str(home / "dags" / "alerts_e2e.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    return {
        "output": output,
        "slack": [r["json"] for r in webhook_server.requests if "/status/500" not in r["path"]],
        "slack_refused": [r["json"] for r in webhook_server.requests if "/status/500" in r["path"]],
        "mail": list(handler.messages),
        "summary_channels": json.loads((home / "summary_channels.json").read_text()),
        "dbt_results": json.loads((home / "dbt_results.json").read_text()),
    }


def _failure_payloads(run: dict) -> list[dict]:
    return [p for p in run["slack"] if "load_bronze" in p["text"]]


def _task_states(run: dict) -> dict:
    [line] = [x for x in run["output"].splitlines() if x.startswith("TASK_STATES=")]
    return json.loads(line.removeprefix("TASK_STATES="))


@pytest.mark.slow
def test_failed_airflow_task_alerts_slack_with_its_details(airflow_run):
    assert "DAGRUN_STATE=failed" in airflow_run["output"]
    assert _task_states(airflow_run)["load_bronze"] == "failed"
    [payload] = _failure_payloads(airflow_run)
    text = _block_text(payload)
    assert "Task load_bronze failed in alerts_e2e" in payload["blocks"][0]["text"]["text"]
    assert "*DAG*\\nalerts_e2e" in text
    assert "*Task*\\nload_bronze" in text
    assert "*Logical date*\\n2026-01-05 00:00:00 UTC" in text
    assert "*Try*\\n1 of 1" in text
    assert "*Owner*\\ndata-platform" in text
    # the exception's last line, with Slack's control characters escaped
    assert "ValueError: 3 rows rejected in &lt;orders&gt; &amp; 'order_lines'" in text
    [button] = payload["blocks"][-1]["elements"]
    assert button["url"].startswith("http://airflow.example:8080/dags/alerts_e2e/runs/")
    assert button["url"].endswith("/tasks/load_bronze?try_number=1")


@pytest.mark.slow
def test_failed_airflow_task_alerts_by_email_with_its_details(airflow_run):
    [mail] = [m for m in airflow_run["mail"] if "load_bronze" in m["message"]["Subject"]]
    assert mail["to"] == ["oncall@example.com"]
    assert mail["from"] == "airflow@example.com"
    message = mail["message"]
    assert message["Subject"] == (
        "[ERROR] Task load_bronze failed in alerts_e2e · dag alerts_e2e / task load_bronze"
    )
    html, plain = _parts(message)
    for shown in ("alerts_e2e", "load_bronze", "2026-01-05 00:00:00 UTC", "1 of 1"):
        assert shown in html
        assert shown in plain  # a text/plain part too, through the Airflow SMTP connection
    assert message.get_content_type() == "multipart/alternative"
    assert "ValueError: 3 rows rejected in &lt;orders&gt; &amp; &#39;order_lines&#39;" in html
    assert "ValueError: 3 rows rejected in <orders> & 'order_lines'" in plain
    assert 'href="http://airflow.example:8080/dags/alerts_e2e/runs/' in html
    assert "Open task log: http://airflow.example:8080/dags/alerts_e2e/runs/" in plain


@pytest.mark.slow
def test_task_sends_summary_through_connections_skipping_a_missing_one(airflow_run):
    assert airflow_run["summary_channels"] == ["email"]
    assert "Airflow connection 'slack_not_defined' not available" in airflow_run["output"]
    [summary] = [
        m for m in airflow_run["mail"] if "Daily pipeline finished" in m["message"]["Subject"]
    ]
    html, _ = _parts(summary["message"])
    assert "12,345" in html
    assert not [p for p in airflow_run["slack"] if "Daily pipeline" in p["text"]]


@pytest.mark.slow
def test_broken_alert_channels_are_logged_and_do_not_mask_the_task_failure(airflow_run):
    output = airflow_run["output"]
    assert _task_states(airflow_run)["transform"] == "failed"
    assert "RuntimeError: dbt build failed: 2 tests failed" in output  # the task's own error
    assert "alert not delivered by slack: Slack webhook at 127.0.0.1:" in output
    assert "Status Code: 500" in output
    assert "alert not delivered by email: SMTP server 127.0.0.1:" in output
    assert "broken-token" not in output.split("alert not delivered by slack")[1].splitlines()[0]
    assert "Failed to run task callback" not in output  # the callback itself did not raise
    [refused] = airflow_run["slack_refused"]  # it was tried, and answered 500
    assert "Task transform failed" in refused["text"]
    assert not [p for p in airflow_run["slack"] if "transform" in p["text"]]


@pytest.mark.slow
def test_dag_task_alerts_dbt_test_warnings_through_the_connections(airflow_run):
    assert _task_states(airflow_run)["dbt_test_results"] == "success"
    summary = airflow_run["dbt_results"]
    assert (summary["warnings"], summary["errors"], summary["alerts"]) == (2, 2, 1)
    [payload] = [p for p in airflow_run["slack"] if "dbt test" in p["text"]]
    header = payload["blocks"][0]["text"]["text"]
    assert header == ":rotating_light: dbt tests need a look: 1 failed, 1 errored, 2 warned"
    groups = [
        b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b
    ]
    assert [g.split("*")[1] for g in groups] == ["orders", "source:raw.raw_events"]
    docs = "http://docs.example:8090/dbt/#!/test/test.tiny."
    assert f"<{docs}unique_orders_order_id." in groups[0]
    assert "|unique_orders_order_id> on `order_id`: 1 row; failed" in groups[0]
    assert "|accepted_values_orders_status__placed__shipped> on `status` _(warning)_" in groups[0]
    [mail] = [m for m in airflow_run["mail"] if "dbt tests need a look" in m["message"]["Subject"]]
    assert mail["to"] == ["oncall@example.com"]
    html, plain = _parts(mail["message"])
    assert "source:raw.raw_events" in html and "1 row" in html
    assert (
        "  - source_not_null_raw_raw_events_customer_id on customer_id (warning): 2 rows" in plain
    )


# --------------------------------------------------------------------------- one format, grouped
def _grouped(tables: int, findings: int) -> Alert:
    from quality.alerts import Finding, Group

    groups = tuple(
        Group(
            f"bronze.table_{t}",
            tuple(
                Finding(f"check_{i}", f"column_{i}", i + 1, ("x" * 50, "null"), "error")
                for i in range(findings)
            ),
            since=datetime(2026, 1, 5, 3, tzinfo=UTC),
        )
        for t in range(tables)
    )
    return Alert("error", "gx", "bronze gate: many checks failed", "bronze", groups=groups)


def test_a_grouped_alert_stays_within_slack_limits_and_says_what_it_left_out():
    payload = to_slack(_grouped(tables=60, findings=80))
    assert len(payload["blocks"]) <= 50
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    assert all(len(t) <= 3000 for t in texts)
    assert "more (see the link)" in texts[0]  # 80 findings do not fit in one section
    assert "more not shown (see the link)" in payload["blocks"][-1]["elements"][0]["text"]
    _, html, plain = to_email(_grouped(tables=60, findings=3))
    assert plain.count("bronze.table_") == 30 and "30 more not shown" in plain
    assert html.count("<h3") == 30


def test_grouped_alerts_repeat_only_when_the_failed_checks_change(settings, webhook):
    assert send_alert(_grouped(2, 2), settings) == ["slack", "email"]
    assert send_alert(_grouped(2, 2), settings) == []  # the same checks: held back
    assert send_alert(_grouped(2, 3), settings) == ["slack", "email"]  # a new failed check


def test_alert_text_is_scrubbed_of_emails_and_phones_whatever_the_source():
    alert = Alert(
        "error",
        "airflow",
        "Task load failed for victim.name@example.com",
        "dag x",
        deviation="call +1-202-555-0147",
        details=(("Error", "ValueError: bad row 'Victim','victim.name@example.com'"),),
    )
    shown = json.dumps(to_slack(alert)) + "".join(to_email(alert))
    assert "victim.name@example.com" not in shown and "202-555-0147" not in shown
    assert "v***@e***.com" in shown and "&lt;masked phone&gt;" in shown


def test_task_links_use_the_configured_airflow_url_and_none_without_one(monkeypatch):
    from quality.notify import _task_log_url

    for name in ("AIRFLOW_BASE_URL", "AIRFLOW__API__BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert _task_log_url("ingest_daily", "load", "manual__2026-01-05", -1, 1) is None
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080/")  # make airflow's
    assert (
        _task_log_url("d", "t", "r", -1, 1)
        == "http://127.0.0.1:8080/dags/d/runs/r/tasks/t?try_number=1"
    )
    monkeypatch.setenv("AIRFLOW_BASE_URL", "https://airflow.example.com")
    assert _task_log_url("d", "t", "manual__2026-01-05T00:00:00+00:00", 2, 3) == (
        "https://airflow.example.com/dags/d/runs/manual__2026-01-05T00%3A00%3A00%2B00%3A00"
        "/tasks/t/mapped/2?try_number=3"
    )


def test_docs_links_come_from_one_base_url_and_are_never_file_urls(monkeypatch):
    from quality.settings import data_docs_url, dbt_docs_url, mlflow_ui_url

    for name in ("DOCS_BASE_URL", "DOCS_HOST", "DOCS_PORT", "MLFLOW_UI_PORT", "MLFLOW_UI_URL",
                 "QUALITY_DATA_DOCS_BASE_URL", "DBT_DOCS_URL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    assert data_docs_url() == "http://127.0.0.1:8090/data-docs/index.html"
    assert dbt_docs_url() == "http://127.0.0.1:8090/dbt/"
    assert mlflow_ui_url() == "http://127.0.0.1:8091"
    monkeypatch.setenv("DOCS_PORT", "9000")
    monkeypatch.setenv("MLFLOW_UI_PORT", "9001")
    assert dbt_docs_url("test.p.unique_x") == "http://127.0.0.1:9000/dbt/#!/test/test.p.unique_x"
    assert mlflow_ui_url() == "http://127.0.0.1:9001"
    monkeypatch.setenv("DOCS_BASE_URL", "https://docs.example.com/")
    assert data_docs_url() == "https://docs.example.com/data-docs/index.html"
    monkeypatch.setenv("DOCS_PORT", "http")
    with pytest.raises(ValueError, match="DOCS_PORT='http' is not a TCP port"):
        dbt_docs_url()


def test_a_failed_dbt_task_alerts_with_dbts_own_error_lines():
    """A task that failed in dbt names dbt's reason in the alert, not only the last line."""
    from types import SimpleNamespace

    from platform_core.dbt_runner import DbtFailed
    from quality.notify import failure_alert

    lines = [
        "Failure in unit_test fct_order_lines_keeps_unattributed_lines (models/marts/x.yml)",
        "Runtime Error in unit_test fct_order_lines_keeps_unattributed_lines",
        "Relation name 'fct_order_lines_keeps_a_long_name' is longer than 63 characters",
        "compiled code at target/run/x.sql",
        "a fifth line",
    ]
    error = DbtFailed("dbt build --selector scheduled", lines, {"error": 1, "skip": 76})
    ti = SimpleNamespace(dag_id="transform", task_id="dbt", map_index=-1, try_number=1, max_tries=0)
    alert = failure_alert({"ti": ti, "exception": error, "run_id": "r1"})
    shown = dict(alert.details)["Error"]
    assert shown.startswith("DbtFailed: dbt build --selector scheduled failed (error 1, skip 76): ")
    assert "is longer than 63 characters" in shown
    assert "Failure in unit_test" in shown and "a fifth line" not in shown
    assert shown.endswith("... 1 more in the task log")
    # any other exception: its type and last line, as before
    other = failure_alert({"ti": ti, "exception": ValueError("first\nthe reason"), "run_id": "r1"})
    assert dict(other.details)["Error"] == "ValueError: the reason"
