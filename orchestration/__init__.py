"""Running the platform's Airflow DAGs: the task bodies the thin DAG files call, a local Airflow
home under ``.local/airflow`` (SQLite metadata, pools, connections from the environment) and
``python -m orchestration run``, which drives the DAGs with Airflow's own runner in asset order.
"""
