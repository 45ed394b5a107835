"""Build the Great Expectations Data Docs and take a screenshot of their index in headless
Chromium (``make data-docs``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .settings import data_docs_dir

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def build() -> Path:
    """Rebuild the Data Docs from the stored suites and validation results; return index.html."""
    from .gx_run import SITE, _context

    _context().build_data_docs(site_names=[SITE])
    index = data_docs_dir() / "index.html"
    if not index.is_file():
        raise FileNotFoundError(f"GX wrote no {index}: run `python -m quality check` first")
    return index


def chromium() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


def screenshot(png: Path, index: Path | None = None, size: tuple[int, int] = (1400, 1000)) -> Path:
    """A PNG of ``index`` (default: the Data Docs index) as headless Chromium renders it."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("chromium not found: install it (apt-get install chromium)")
    index = (index or data_docs_dir() / "index.html").resolve()
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={size[0]},{size[1]}",
                index.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0 or not png.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(
            f"chromium could not screenshot {index} (exit {done.returncode}): {tail}"
        )
    return png
