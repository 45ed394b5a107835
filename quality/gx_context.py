"""The Great Expectations context of the quality checks: file mode under ``<QUALITY_GX_ROOT>/gx``,
analytics and progress bars off, every stored result masked (:mod:`quality.masking`), and one
Data Docs site (``SITE``) written to :func:`quality.settings.data_docs_dir`.

:mod:`quality.gx_run` validates in it and :mod:`quality.data_docs` rebuilds its site; both import
it from here (neither imports the other's context).
"""

from __future__ import annotations

import os

from . import masking
from .settings import data_docs_dir, gx_root

SITE = "local_site"


def context():
    """The file-mode GX context, analytics off, masking installed, its Data Docs site under
    ``data_docs_dir()``."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    root = gx_root()
    root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(root))
    masking.install(ctx)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.variables.analytics_enabled = False
    docs = data_docs_dir()
    docs.mkdir(parents=True, exist_ok=True)
    site = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
    }
    sites = ctx.get_config().data_docs_sites or {}
    current = sites.get(SITE, {}).get("store_backend", {}).get("base_directory")
    if current != str(docs):
        if SITE in sites:
            ctx.delete_data_docs_site(SITE)
        ctx.add_data_docs_site(site_name=SITE, site_config=site)
    return ctx
