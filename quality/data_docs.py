"""Build the Great Expectations Data Docs so they work offline, and take a screenshot of their
index in headless Chromium (``make data-docs``).

GX's pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from CDNs; without them
the index shows no suite and no validation result. :func:`localize` copies the vendored copies of
those files (``quality/static/vendor/``, see its README) into the site and points every page at
them. GX has no site-builder option for this: its ``custom_views_directory`` can add templates but
not replace the page templates that carry the CDN addresses.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .settings import PACKAGE, data_docs_dir

log = logging.getLogger(__name__)

VENDOR = PACKAGE / "static" / "vendor"
# every CDN address GX 1.x's page templates load -> the same file under quality/static/vendor/
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    # GX asks for the 1.19.0 stylesheet (index: minified, other pages: not): 1.19.1's serves both
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": ("bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/vega-embed.min.js",
}
# GX's logo is fetched from its S3 bucket with the data context id in the query string
_LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"']*/logo-long\.png[^\"']*")
# what a page loads (not what it links to): script/img src, link href
_REMOTE = re.compile(
    r"<(?:script|img|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"'](https?://[^\"']+)[\"']", re.I
)
# SRI and CORS attributes of a rewritten tag: a file:// page cannot load a crossorigin script
_SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    # let the pages' scripts (bootstrap-table builds the index tables) finish before the shot
    "--virtual-time-budget=10000",
)


def remote_assets(html: str) -> list[str]:
    """The http(s) addresses a page loads scripts, styles or images from."""
    return _REMOTE.findall(html)


def _localize_page(page: Path, site: Path) -> str:
    """Point ``page`` at the vendored files (rewritten in place if needed); return its text."""
    text = page.read_text(encoding="utf-8")
    if not remote_assets(text):  # done before, or nothing to do
        return text
    vendor = Path(os.path.relpath(site / "static" / "vendor", page.parent)).as_posix()
    images = Path(os.path.relpath(site / "static" / "images", page.parent)).as_posix()
    new = text
    for url, local in CDN.items():
        new = new.replace(f'"{url}"', f'"{vendor}/{local}"')
    new = _LOGO.sub(f"{images}/logo-long.png", new)
    new = re.sub(r"<script\b[^>]*>", lambda m: _SRI.sub("", m[0]) if vendor in m[0] else m[0], new)
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new


def localize(site: Path | None = None) -> list[str]:
    """Copy the vendored scripts and styles into the Data Docs ``site`` and rewrite its pages to
    load them instead of the CDNs; return the remote addresses still loaded (none, unless a GX
    upgrade brought new ones: they are logged)."""
    site = Path(site or data_docs_dir())
    shutil.copytree(VENDOR, site / "static" / "vendor", dirs_exist_ok=True)
    left: set[str] = set()
    for page in site.rglob("*.html"):
        if (site / "static") not in page.parents:
            left.update(remote_assets(_localize_page(page, site)))
    if left:
        log.warning(
            "Data Docs pages under %s still load %d file(s) from the network (unknown to "
            "quality/data_docs.py CDN; vendor them in quality/static/vendor): %s",
            site,
            len(left),
            ", ".join(sorted(left)),
        )
    return sorted(left)


def build() -> Path:
    """Rebuild the Data Docs from the stored suites and validation results, for offline use;
    return index.html. Results stored unmasked (by an earlier version) are masked first."""
    from .gx_context import SITE, context
    from .masking import mask_store

    ctx = context()
    masked = mask_store(ctx)
    if masked:
        log.warning(
            "masked personal data in %d validation result(s) stored unmasked before", masked
        )
    ctx.build_data_docs(site_names=[SITE])
    index = data_docs_dir() / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"GX wrote no {index}: run `python -m quality check` first")
    localize(index.parent)
    return index


def chromium() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def _chromium(page: Path, *flags: str, size: tuple[int, int]) -> subprocess.CompletedProcess:
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("chromium not found: install it (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                *flags,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def screenshot(png: Path, index: Path | None = None, size: tuple[int, int] = (1400, 1000)) -> Path:
    """A PNG of ``index`` (default: the Data Docs index) as headless Chromium renders it."""
    index = (index or data_docs_dir() / "index.html").resolve()
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _chromium(index, f"--screenshot={png}", size=size)
    if done.returncode != 0 or not png.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(
            f"chromium could not screenshot {index} (exit {done.returncode}): {tail}"
        )
    return png


def rendered_dom(page: Path, size: tuple[int, int] = (1400, 1000)) -> str:
    """The page's DOM after its scripts ran (headless Chromium ``--dump-dom``)."""
    done = _chromium(Path(page), "--dump-dom", size=size)
    if done.returncode != 0 or "<html" not in done.stdout:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"chromium could not render {page} (exit {done.returncode}): {tail}")
    return done.stdout
