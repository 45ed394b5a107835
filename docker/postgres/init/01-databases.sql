-- The stack's databases, on one PostgreSQL server: the analytics warehouse, Airflow's metadata
-- and MLflow's tracking store. The postgres image runs this once, when its data volume is
-- created (docker-entrypoint-initdb.d), as the superuser (PGUSER in .env). Passwords come from
-- the container's environment, which docker-compose.yml fills from .env: psql's \getenv reads
-- them, so no secret is written here. To run it again: `docker compose down -v` (drops data).
\set ON_ERROR_STOP on
\getenv warehouse_db WAREHOUSE_DB
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv mlflow_password MLFLOW_DB_PASSWORD

-- the warehouse (WAREHOUSE_TARGET=postgres): bronze, staging, marts, metrics, ml schemas
select format('create database %I', :'warehouse_db')
where not exists (select from pg_database where datname = :'warehouse_db') \gexec

-- Airflow's metadata database, owned by its own login
create role airflow login password :'airflow_password';
create database airflow owner airflow;

-- MLflow's tracking store (runs, metrics, model registry); artifacts live in a volume
create role mlflow login password :'mlflow_password';
create database mlflow owner mlflow;
