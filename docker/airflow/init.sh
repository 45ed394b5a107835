#!/usr/bin/env bash
# One-shot set-up of the stack, run by the airflow-init service before the other Airflow
# services start. Safe to run again: `docker compose run --rm airflow-init`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"  # the repository: /opt/analytics in the image

echo "== airflow db migrate (metadata database on the postgres service)"
airflow db migrate

echo "== pools from ${here}/pools.json"
airflow pools import "${here}/pools.json"

echo "== Airflow UI login"
python - <<'EOF'
import json
import os
from pathlib import Path

users = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
admin = users.split(",")[0].split(":")[0].strip()
path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({admin: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
print(f"user {admin!r}, password AIRFLOW_ADMIN_PASSWORD from .env")
EOF

echo "== dbt manifest the transform DAG renders from (${DBT_MANIFEST_PATH})"
# target and logs go to a volume, not into the bind-mounted dbt_project/
dbt_state="$(dirname "${DBT_MANIFEST_PATH}")"
cd "${root}/dbt_project"
dbt parse --quiet --profiles-dir . --target-path "${dbt_state}" --log-path "${dbt_state}/../logs"
test -s "${DBT_MANIFEST_PATH}"

echo "== ready: $(airflow version) on ${WAREHOUSE_TARGET}"
