"""The bottom layer: what every package above needs and none of them owns.

``paths`` (the repository, the dbt project, the local state folder, the landing zone, the DuckDB
warehouse, the dbt manifest), ``pii_key`` (the key personal data is hashed under) and
``dbt_runner`` (dbt's environment and the one in-process way to run it). It imports no other
package of this repository (docs/architecture.md, "Package layering").
"""
