# syntax=docker/dockerfile:1
# The one image of docker-compose.yml: every Airflow service, the MLflow server and the metrics
# API run it.
# It is this project installed from the committed uv.lock with uv (the same versions
# `make install` gives), plus the PostgreSQL extra; no Java (no Spark in the stack).
#
# Python 3.11, as in .venv and CI. AIRFLOW_VERSION must be the apache-airflow version uv.lock
# holds for PYTHON_VERSION on Linux: the build stops if they disagree, and tests/test_compose.py
# checks both (and the compose file's image tag) against uv.lock.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG UV_VERSION=0.13.9
ARG AIRFLOW_VERSION=3.3.2
# the user the services run as by default; docker-compose.yml overrides it with AIRFLOW_UID
ARG AIRFLOW_UID=50000

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    HOME=/opt/airflow \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /opt/analytics

# Third-party dependencies first, in their own layer: rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra postgres --no-install-project

# Then the project itself (installed editable, so the bind mounts of docker-compose.yml
# replace the code without a rebuild).
COPY platform_core/ platform_core/
COPY data_generator/ data_generator/
COPY ingestion/ ingestion/
COPY quality/ quality/
COPY ml/ ml/
COPY metrics_api/ metrics_api/
COPY orchestration/ orchestration/
COPY bi/ bi/
COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY docker/airflow/ docker/airflow/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra postgres \
    && python -c "import sys, airflow; v = airflow.__version__; sys.exit(0 if v == '${AIRFLOW_VERSION}' else f'uv.lock installed apache-airflow {v}, but AIRFLOW_VERSION is ${AIRFLOW_VERSION}')"

# Runs as any uid in group 0 (AIRFLOW_UID in .env): what it writes is group-writable.
RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --no-create-home \
        --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/airflow/dbt /opt/airflow/state \
        /opt/analytics/data /mlflow/artifacts \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow /opt/analytics /mlflow \
    && chmod -R g+rwX /opt/airflow /opt/analytics /mlflow

USER ${AIRFLOW_UID}:0
EXPOSE 8080 5000 8070
# sets the alert connections (AIRFLOW_CONN_*) from SLACK_WEBHOOK_URL and SMTP_*, then runs CMD
ENTRYPOINT ["python", "/opt/analytics/docker/airflow/entrypoint.py"]
CMD ["airflow", "version"]
