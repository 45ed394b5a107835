#!/usr/bin/env bash
# One-shot set-up of the stack, run by the airflow-init service before the other Airflow
# services start. Safe to run again: `docker compose run --rm airflow-init`. The image's entry
# point has already made (first start) or read the stack's secrets (stack_secrets.py).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"  # the repository: /opt/analytics in the image

echo "== airflow db migrate (metadata database on the postgres service)"
airflow db migrate

echo "== pools from ${here}/pools.json"
airflow pools import "${here}/pools.json"

echo "== Airflow UI login"
python "${here}/stack_secrets.py" admin-password

echo "== warehouse roles: ${WAREHOUSE_READER_ROLE} (BI, reads marts and metrics), ${WAREHOUSE_PIPELINE_ROLE} (the stack)"
# as the server's superuser, this step only; every service reaches the warehouse as the pipeline
PGUSER="${WAREHOUSE_ADMIN_USER}" PGPASSWORD="${WAREHOUSE_ADMIN_PASSWORD}" python -m ingestion roles

echo "== dbt manifest the transform DAG renders from (${DBT_MANIFEST_PATH})"
# target and logs go to a volume, not into the bind-mounted dbt_project/
dbt_state="$(dirname "${DBT_MANIFEST_PATH}")"
cd "${root}/dbt_project"
dbt parse --quiet --profiles-dir . --target-path "${dbt_state}" --log-path "${dbt_state}/../logs"
test -s "${DBT_MANIFEST_PATH}"

echo "== ready: $(airflow version) on ${WAREHOUSE_TARGET}"
