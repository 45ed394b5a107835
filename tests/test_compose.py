"""The docker-compose stack, checked without a Docker engine.

The file must be one Docker Compose accepts (the Compose Specification's JSON schema, and
``docker compose config`` where the plugin is installed) and must agree with the repository: the
services it waits on exist, the paths it mounts and builds from exist, every ``${VAR}`` it reads
is documented in ``.env.example``, the image installs the Airflow version ``uv.lock`` holds, and
the alert connections its entry point builds are ones Airflow reads and can send mail through.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
INIT_SQL = ROOT / "docker" / "postgres" / "init" / "01-databases.sql"
POOLS = ROOT / "docker" / "airflow" / "pools.json"
ENTRYPOINT = ROOT / "docker" / "airflow" / "entrypoint.py"
#: the line of .env.example after which every variable is the stack's own
COMPOSE_MARKER = "docker compose"

STACK = {
    "postgres",
    "mailpit",
    "mlflow",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "redis",
    "metrics-api",
}
ONE_SHOT = {"airflow-init"}
# ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR; not $${VAR} (escaped for the container's shell)
VARIABLE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|WEBHOOK|FERNET|HASH_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _strings(node):
    """Every string in a parsed YAML document (keys and values; comments are gone)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _variables(text: str) -> set[str]:
    return {braced or bare for braced, bare in VARIABLE.findall(text)}


def _env_example() -> tuple[dict[str, str], set[str]]:
    """(every variable with its value, the variables after the docker compose marker)."""
    values: dict[str, str] = {}
    stack: set[str] = set()
    in_stack = False
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("#") and COMPOSE_MARKER in line:
            in_stack = True
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            values[match[1]] = match[2]
            if in_stack:
                stack.add(match[1])
    return values, stack


def _dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE.read_text(), flags=re.MULTILINE))


def _locked_airflow_version(python_version: str) -> str:
    """The apache-airflow version uv.lock installs for ``python_version`` on Linux."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    environment = {
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "implementation_name": "cpython",
    }
    versions = [
        package["version"]
        for package in lock["package"]
        if package["name"] == "apache-airflow"
        and (
            "resolution-markers" not in package
            or any(Marker(m).evaluate(environment) for m in package["resolution-markers"])
        )
    ]
    assert len(versions) == 1, f"uv.lock: apache-airflow for Python {python_version}: {versions}"
    return versions[0]


def _platform_services(services: dict) -> dict[str, dict]:
    """The services that run the image built from the Dockerfile."""
    return {name: svc for name, svc in services.items() if "build" in svc}


# ----------------------------------------------------------------------------- the file itself
def test_compose_file_defines_the_whole_stack(services):
    assert set(services) == STACK


def test_compose_file_follows_the_compose_specification(compose):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(compose)
    ]
    assert errors == []


def test_the_schema_rejects_what_compose_would_reject(compose):
    """The vendored schema is strict enough to catch a typo (so the test above can fail)."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    broken = json.loads(json.dumps(compose))
    broken["services"]["airflow-scheduler"]["depends_on"]["postgres"]["condition"] = "healthy"
    broken["services"]["mailpit"]["helthcheck"] = broken["services"]["mailpit"]["healthcheck"]
    errors = {
        "/".join(str(p) for p in error.absolute_path): error.message
        for error in validator.iter_errors(broken)
    }
    assert set(errors) == {"services/airflow-scheduler/depends_on", "services/mailpit"}, errors
    assert "'helthcheck' does not match" in errors["services/mailpit"]


def test_every_dependency_is_a_defined_service_in_the_state_it_waits_for(services):
    for name, svc in services.items():
        depends_on = svc.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends_on.items():
            assert dep in services, f"{name} depends on {dep!r}, which is not a service"
            assert dep != name, f"{name} depends on itself"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for long-running {dep} to exit"


def test_long_running_services_have_healthchecks_and_restart(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no"
            continue
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert svc.get("restart") == "unless-stopped", name


def test_airflow_services_wait_for_the_metadata_database_and_init(services):
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert (
            services[name]["depends_on"]["airflow-init"]["condition"]
            == "service_completed_successfully"
        )
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["WAREHOUSE_TARGET"] == "postgres"
        assert env["PGHOST"] == "postgres"


def test_ports_are_published_on_localhost_only(services):
    published = []
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port!r}"
            published.append(name)
    assert {"postgres", "airflow-api-server", "mlflow", "mailpit", "metrics-api"} <= set(published)
    assert "ports" not in services["redis"]  # the cache is for the stack only


# ------------------------------------------------------------------------- against the repo
def test_bind_mounts_and_named_volumes_exist(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/", "~")) or "${" in source:
                assert source.startswith("./"), f"{name}: mount {source!r} outside the repo"
                assert (ROOT / source).exists(), f"{name}: {source} does not exist in the repo"
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared"


def test_build_context_and_dockerfile_exist(services):
    platform = _platform_services(services)
    assert set(platform) == {name for name in STACK if name.startswith("airflow")} | {
        "mlflow",
        "metrics-api",
    }
    for name, svc in platform.items():
        build = svc["build"]
        context = ROOT / build["context"]
        assert context.is_dir(), f"{name}: build context {context}"
        assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_dockerfile_copies_only_files_that_exist_and_are_not_dockerignored():
    ignored = [
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    copies = re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert copies, "the Dockerfile copies nothing"
    for copy in copies:
        *sources, _destination = [a for a in shlex.split(copy) if not a.startswith("--")]
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
            for pattern in ignored:
                assert not fnmatch.fnmatch(path, pattern), f"COPY {source}: .dockerignore {pattern}"


def test_dockerfile_installs_the_locked_environment():
    text = DOCKERFILE.read_text()
    assert "UV_COMPILE_BYTECODE=1" in text
    syncs = re.findall(r"uv sync ([^\n\\&]+)", text)
    assert syncs and all("--frozen" in s and "--extra postgres" in s for s in syncs), syncs
    assert "COPY pyproject.toml uv.lock" in text
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "java" not in instructions.lower() and "jdk" not in instructions.lower()


def test_images_match_the_airflow_version_uv_lock_holds(services):
    args = _dockerfile_args()
    python_version = args["PYTHON_VERSION"]
    locked = _locked_airflow_version(python_version)
    assert args["AIRFLOW_VERSION"] == locked, "Dockerfile ARG AIRFLOW_VERSION"
    assert re.match(r"^3\.", locked)
    images = set()
    for name, svc in _platform_services(services).items():
        build_args = svc["build"].get("args", {})
        assert build_args.get("AIRFLOW_VERSION") == locked, f"{name}: build arg AIRFLOW_VERSION"
        assert build_args.get("PYTHON_VERSION") == python_version, f"{name}: PYTHON_VERSION"
        assert svc["image"].endswith(f":{locked}"), f"{name}: image {svc['image']}"
        images.add(svc["image"])
    assert len(images) == 1, f"the Airflow services should share one image: {images}"


def test_variables_are_documented_in_env_example_and_none_is_stale(compose):
    used = set().union(*(_variables(s) for s in _strings(compose)))
    documented, stack_section = _env_example()
    assert sorted(used - set(documented)) == [], "read by docker-compose.yml, not in .env.example"
    assert sorted(stack_section - used) == [], "in .env.example's stack section, never read"
    assert {"PGUSER", "PGPASSWORD", "PGDATABASE", "PGPORT"} <= used


def test_env_example_commits_no_secret():
    values, _ = _env_example()
    secrets = {name: value for name, value in values.items() if SECRET_NAME.search(name)}
    assert secrets, "no secret variable found: has .env.example changed shape?"
    assert {name: value for name, value in secrets.items() if value} == {}


def test_secrets_in_the_compose_file_come_from_variables(services):
    for name, svc in services.items():
        env = svc.get("environment", {})
        for key, value in env.items():
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_DIR")) and value:
                assert "${" in str(value), f"{name}: {key} is written into the file"
        for url in (*env.values(), *svc.get("command", [])):
            for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", str(url)):
                assert password.startswith("${"), f"{name}: a password in {url!r}"


def test_postgres_init_creates_every_database_the_stack_connects_to(services):
    sql = INIT_SQL.read_text()
    urls = [
        *(v for svc in services.values() for v in svc.get("environment", {}).values()),
        *(a for svc in services.values() for a in svc.get("command", []) if "://" in str(a)),
    ]
    databases = {
        m for url in urls for m in re.findall(r"postgresql\+\w+://[^@]+@postgres:5432/(\w+)", url)
    }
    assert databases == {"airflow", "mlflow"}
    for database in databases:
        assert f"create database {database} owner {database};" in sql
        assert f"create role {database} login password" in sql
    # the warehouse: named by PGDATABASE, created unless it exists
    postgres_env = services["postgres"]["environment"]
    assert (
        postgres_env["WAREHOUSE_DB"] == services["airflow-scheduler"]["environment"]["PGDATABASE"]
    )
    assert "create database %I" in sql
    # every variable the script reads is passed to the postgres container
    for variable in re.findall(r"^\\getenv \w+ (\w+)$", sql, flags=re.MULTILINE):
        assert variable in postgres_env, f"{INIT_SQL.name} reads {variable}, which is not set"
    mounts = services["postgres"]["volumes"]
    assert "./docker/postgres/init:/docker-entrypoint-initdb.d:ro" in mounts


def test_every_pool_the_dags_use_is_created_by_airflow_init():
    pools = json.loads(POOLS.read_text())
    assert all(spec["slots"] > 0 and spec["description"] for spec in pools.values())
    named = set()
    for dag_file in (ROOT / "dags").glob("*.py"):
        text = dag_file.read_text()
        named |= set(re.findall(r"pool\w*\s*=\s*[\"']([\w.-]+)[\"']", text, flags=re.IGNORECASE))
    assert named, "no pool named in dags/: the warehouse writers share one"
    assert named <= set(pools), f"pools used in dags/ but not in {POOLS.name}: {named - set(pools)}"
    assert "pools import" in (ROOT / "docker" / "airflow" / "init.sh").read_text()


def test_the_metrics_api_reads_the_warehouse_and_the_build_id_the_dags_publish(services):
    api = services["metrics-api"]
    env = api["environment"]
    assert env["WAREHOUSE_TARGET"] == "postgres" and env["PGHOST"] == "postgres"
    assert env["WAREHOUSE_READER_ROLE"] == "${WAREHOUSE_READER_ROLE:-analytics_reader}"
    assert "PGUSER" not in env and "PGPASSWORD" not in env  # never the superuser's login
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    # the transform DAG (scheduler) writes the build id where the API reads it, on one volume
    scheduler = services["airflow-scheduler"]
    build_file = scheduler["environment"]["MARTS_BUILD_FILE"]
    assert env["MARTS_BUILD_FILE"] == build_file
    assert build_file.startswith("/opt/airflow/")
    assert "airflow-home:/opt/airflow" in scheduler["volumes"]
    assert "airflow-home:/opt/airflow:ro" in api["volumes"]
    assert api["command"][:3] == ["python", "-m", "metrics_api"]
    assert "serve" in api["command"] and api["ports"] == [
        "127.0.0.1:${METRICS_API_PORT:-8070}:8070"
    ]
    assert "COPY metrics_api/ metrics_api/" in DOCKERFILE.read_text()


# ---------------------------------------------------------------- the alert connections
def _entrypoint():
    # the image runs it as a script: its folder (stack_secrets.py) is on sys.path
    if str(ENTRYPOINT.parent) not in sys.path:
        sys.path.insert(0, str(ENTRYPOINT.parent))
    spec = importlib.util.spec_from_file_location("stack_entrypoint", ENTRYPOINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _airflow_connection(monkeypatch, variables: dict[str, str], conn_id: str):
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return EnvironmentVariablesBackend().get_connection(conn_id)


def _interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` against ``values``."""

    def value(match: re.Match) -> str:
        name, operator, default = match[1], match[2], match[3] or ""
        if values.get(name):
            return values[name]
        return default if operator == "-" else ("<required>" if operator == "?" else "")

    return re.sub(r"\$\{(\w+)(?::([-?])([^}]*))?\}", value, text)


def test_stack_defaults_make_an_smtp_connection_to_the_mail_catcher(monkeypatch, services):
    # the scheduler's environment as compose gives it from a fresh copy of .env.example
    example, _ = _env_example()
    env = {
        key: _interpolate(str(value), example)
        for key, value in services["airflow-scheduler"]["environment"].items()
    }
    assert env["SMTP_HOST"] == "mailpit" and env["SMTP_PORT"] == "1025"
    variables = _entrypoint().alert_connections(env)
    assert set(variables) == {"AIRFLOW_CONN_SMTP_ALERTS"}, "no Slack without a webhook URL"
    conn = _airflow_connection(monkeypatch, variables, "smtp_alerts")
    assert (conn.conn_type, conn.host, conn.port) == ("smtp", "mailpit", 1025)
    assert conn.login is None and conn.password is None
    assert conn.extra_dejson == {
        "from_email": "airflow@analytics.local",
        "to": env["SMTP_TO"],
        "disable_tls": True,
        "disable_ssl": True,
    }
    assert services["mailpit"]["ports"][1].endswith(":1025")


def test_a_real_smtp_server_and_a_slack_webhook_from_env(monkeypatch):
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/abc",
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_USER": "alerts",
        "SMTP_PASSWORD": "p@ss word",
        "SMTP_STARTTLS": "true",
    }
    variables = _entrypoint().alert_connections(env)
    smtp = _airflow_connection(monkeypatch, variables, "smtp_alerts")
    assert (smtp.host, smtp.port, smtp.login, smtp.password) == (
        "smtp.example.com",
        587,
        "alerts",
        "p@ss word",
    )
    assert smtp.extra_dejson["disable_tls"] is False and smtp.extra_dejson["disable_ssl"] is True
    slack = _airflow_connection(monkeypatch, variables, "slack_alerts")
    assert (slack.conn_type, slack.password) == ("slackwebhook", env["SLACK_WEBHOOK_URL"])


def test_connections_set_explicitly_are_kept_and_bad_settings_are_named():
    entrypoint = _entrypoint()
    explicit = {"SMTP_HOST": "mailpit", "AIRFLOW_CONN_SMTP_ALERTS": "smtp://other:25"}
    assert entrypoint.alert_connections(explicit) == {}
    with pytest.raises(ValueError, match="SMTP_PORT='smtp' is not a port number"):
        entrypoint.alert_connections({"SMTP_HOST": "mailpit", "SMTP_PORT": "smtp"})
    with pytest.raises(ValueError, match="SMTP_STARTTLS='maybe' is not a boolean"):
        entrypoint.alert_connections({"SMTP_HOST": "mailpit", "SMTP_STARTTLS": "maybe"})


def test_airflow_sends_mail_through_the_smtp_connection(monkeypatch):
    from aiosmtpd.controller import Controller

    class Mailbox:
        def __init__(self) -> None:
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_FROM": "af@example.com"}
        for name, value in _entrypoint().alert_connections(env).items():
            monkeypatch.setenv(name, value)
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id="smtp_alerts") as hook:
            hook.send_email_smtp(
                to="data-team@example.com", subject="stack check", html_content="<p>ok</p>"
            )
    finally:
        controller.stop()
    assert [(e.mail_from, e.rcpt_tos) for e in mailbox.envelopes] == [
        ("af@example.com", ["data-team@example.com"])
    ]
    assert b"Subject: stack check" in mailbox.envelopes[0].content


# ------------------------------------------------------------- docker compose, where present
def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    )
    return [docker, "compose"] if probe.returncode == 0 else None


def _compose_env(tmp_path: Path, fill: bool) -> list[str]:
    """.env.example as an --env-file, with its empty values filled in when ``fill``."""
    values, _ = _env_example()
    lines = [f"{k}={v or (f'x{i}' if fill else '')}" for i, (k, v) in enumerate(values.items())]
    env_file = tmp_path / "stack.env"
    env_file.write_text("\n".join(lines) + "\n")
    return ["--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]


def _clean_env() -> dict[str, str]:
    """Only what docker needs: variables in the test's own environment would win over .env."""
    import os

    keep = ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST")
    return {k: os.environ[k] for k in keep if k in os.environ}


def test_docker_compose_config_accepts_the_stack(tmp_path):
    cmd = _docker_compose()
    if cmd is None:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [*cmd, *_compose_env(tmp_path, fill=True), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_the_required_secrets(tmp_path):
    cmd = _docker_compose()
    if cmd is None:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [*cmd, *_compose_env(tmp_path, fill=False), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        check=False,
    )
    assert result.returncode != 0
    assert re.search(r"set \w+ in \.env", result.stderr), result.stderr


# -------------------------------------------------------------------- security of the stack
STACK_SECRETS = ROOT / "docker" / "airflow" / "stack_secrets.py"
INIT_SH = ROOT / "docker" / "airflow" / "init.sh"
#: the Airflow/platform settings the stack makes on first start, and their .env variables
MADE = {
    "AIRFLOW__CORE__FERNET_KEY": "AIRFLOW_FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET": "AIRFLOW_JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY": "AIRFLOW_API_SECRET_KEY",
    "PII_HASH_KEY": "PII_HASH_KEY",
}


def _stack_secrets():
    _entrypoint()  # puts docker/airflow on sys.path, as in the image
    import stack_secrets

    return stack_secrets


def _service_env(services: dict, name: str, values: dict[str, str]) -> dict[str, str]:
    """A service's environment as compose gives it from ``values`` (a .env)."""
    return {
        key: _interpolate(str(value), values)
        for key, value in services[name]["environment"].items()
    }


def test_services_reach_the_warehouse_as_the_pipeline_role_not_the_superuser(services):
    from ingestion.roles import RoleSettings

    example, _ = _env_example()
    dotenv = {**example, "PGPASSWORD": "super-pw", "WAREHOUSE_PIPELINE_PASSWORD": "pipe-pw"}
    superuser = _interpolate(services["postgres"]["environment"]["POSTGRES_USER"], dotenv)
    assert superuser == "postgres"
    warehouse_users = set()
    for name in services:
        env = _service_env(services, name, dotenv) if "environment" in services[name] else {}
        if name in ("postgres", "airflow-init"):
            continue
        # the superuser's password is in no other service
        assert "super-pw" not in env.values(), name
        if "PGUSER" in env:
            assert (env["PGUSER"], env["PGPASSWORD"]) == ("pipeline", "pipe-pw"), name
            warehouse_users.add(name)
    assert {n for n in STACK if n.startswith("airflow") and n not in ONE_SHOT} <= warehouse_users
    # airflow-init makes the roles as the superuser, for the names the services use
    init = _service_env(services, "airflow-init", dotenv)
    assert (init["WAREHOUSE_ADMIN_USER"], init["WAREHOUSE_ADMIN_PASSWORD"]) == (
        superuser,
        "super-pw",
    )
    roles = RoleSettings.from_env(init)
    assert (roles.pipeline, roles.pipeline_password) == (init["PGUSER"], "pipe-pw")
    assert roles.reader == "analytics_reader" and roles.reader_password is None
    script = INIT_SH.read_text()
    assert (
        'PGUSER="${WAREHOUSE_ADMIN_USER}" PGPASSWORD="${WAREHOUSE_ADMIN_PASSWORD}" '
        "python -m ingestion roles" in script
    )


def test_airflow_secrets_may_be_left_empty_and_are_kept_in_the_airflow_home_volume(services):
    example, _ = _env_example()
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-init"):
        env = _service_env(services, name, example)
        for setting, variable in MADE.items():
            assert services[name]["environment"][setting] == f"${{{variable}:-}}", setting
            assert env[setting] == "", f"{name}: {setting} is required, not made"
        # every Airflow service reads the same folder, in the airflow-home volume
        assert env["STACK_SECRETS_DIR"].startswith("/opt/airflow/")
        assert "airflow-home:/opt/airflow" in services[name]["volumes"]
        # the UI asks for a login: not every visitor an admin
        assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "false").lower() != "true"
    assert _service_env(services, "airflow-init", example)["AIRFLOW_ADMIN_PASSWORD"] == ""
    assert "STACK_SECRETS_DIR" not in services["mlflow"].get("environment", {})


def test_secrets_are_made_once_private_and_shared_by_the_services(tmp_path, services):
    from cryptography.fernet import Fernet

    folder = tmp_path / "secrets"
    example, _ = _env_example()
    scheduler = _service_env(services, "airflow-scheduler", example)
    scheduler["STACK_SECRETS_DIR"] = str(folder)
    made = _entrypoint().service_env(scheduler)
    assert set(MADE) <= set(made)
    Fernet(made["AIRFLOW__CORE__FERNET_KEY"].encode())  # a valid Fernet key
    assert len(bytes.fromhex(made["PII_HASH_KEY"])) == 32
    assert min(len(made[s]) for s in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"))
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert sorted(p.name for p in folder.iterdir()) == sorted(MADE)  # no drafts left behind
    # the api-server, started next, gets the same values (they are made once)
    api = {
        **_service_env(services, "airflow-api-server", example),
        "STACK_SECRETS_DIR": str(folder),
    }
    again = _entrypoint().service_env(api)
    assert {s: again[s] for s in MADE} == {s: made[s] for s in MADE}
    # a value from .env wins and is not written down
    given = _stack_secrets().stack_secrets(
        {"AIRFLOW__CORE__FERNET_KEY": "from-dotenv"}, tmp_path / "other"
    )
    assert "AIRFLOW__CORE__FERNET_KEY" not in given
    assert not (tmp_path / "other" / "AIRFLOW__CORE__FERNET_KEY").exists()


def test_admin_password_is_made_on_first_start_and_printed_once(tmp_path, services):
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    passwords = tmp_path / "auth" / "passwords.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": services["airflow-init"]["environment"][
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"
        ],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }

    def init(extra: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, str(STACK_SECRETS), "admin-password"],
            env={**env, **(extra or {})}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    first, second = init(), init()
    with passwords.open() as stream:  # read the way Airflow's simple auth manager reads it
        password = SimpleAuthManager._get_passwords(stream)["admin"]
    assert len(password) >= 20
    assert f"user 'admin', password {password} (made now and shown only this once" in first
    assert password not in second and "password unchanged" in second
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    # a password chosen in .env replaces it, and is not printed
    chosen = init({"AIRFLOW_ADMIN_PASSWORD": "chosen-in-dotenv"})
    assert "chosen-in-dotenv" not in chosen and "AIRFLOW_ADMIN_PASSWORD from .env" in chosen
    with passwords.open() as stream:
        assert SimpleAuthManager._get_passwords(stream) == {"admin": "chosen-in-dotenv"}


def test_nothing_is_published_beyond_localhost_by_default(services):
    example, _ = _env_example()
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", name
        for port in svc.get("ports", []):
            published = _interpolate(str(port), example)
            assert re.fullmatch(r"127\.0\.0\.1:\d+:\d+", published), f"{name}: {published}"
