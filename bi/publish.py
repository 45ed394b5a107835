"""``python -m bi publish``: the packaged data sources (``.tdsx``) to Tableau Server or Cloud.

With tableauserverclient: sign in with a personal access token, find the project, publish each
``.tdsx`` of the folder in overwrite mode (a new data source the first time, the same one
replaced after), sign out. Settings come from the environment only:

- ``TABLEAU_SERVER_URL`` (``https://tableau.example.com``), ``TABLEAU_SITE`` (the site's content
  URL; empty for the default site of a Tableau Server), ``TABLEAU_TOKEN_NAME``,
  ``TABLEAU_TOKEN`` (the token's secret): required;
- ``TABLEAU_PROJECT``: the project to publish into (default ``default``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bi.datasources import DEFAULT_OUT, ROOT

REQUIRED = ("TABLEAU_SERVER_URL", "TABLEAU_SITE", "TABLEAU_TOKEN_NAME", "TABLEAU_TOKEN")
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Settings:
    server_url: str
    site: str
    token_name: str
    token: str
    project: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings, or ValueError naming every variable that is missing. TABLEAU_SITE may be
        set and empty (the default site); the others must hold a value."""
        missing = [
            name
            for name in REQUIRED
            if (name not in env if name == "TABLEAU_SITE" else not env.get(name))
        ]
        if missing:
            raise ValueError(
                f"set {', '.join(missing)} to publish to Tableau "
                f"(needs {', '.join(REQUIRED)}; TABLEAU_PROJECT optional)"
            )
        return cls(
            server_url=env["TABLEAU_SERVER_URL"].rstrip("/"),
            site=env["TABLEAU_SITE"],
            token_name=env["TABLEAU_TOKEN_NAME"],
            token=env["TABLEAU_TOKEN"],
            project=env.get("TABLEAU_PROJECT") or DEFAULT_PROJECT,
        )

    @property
    def where(self) -> str:
        return f"{self.server_url} (site {self.site or 'default'!r})"


@dataclass(frozen=True)
class Published:
    file: Path
    name: str
    id: str


class PublishError(RuntimeError):
    """One line: what failed, on which server, and why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder of the .tdsx files (default {DEFAULT_OUT.relative_to(ROOT)})",
    )


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as exc:
        print(f"bi publish: {exc}", file=sys.stderr)
        return 2
    files = sorted(args.dir.glob("*.tdsx"))
    if not files:
        print(
            f"bi publish: no .tdsx in {args.dir}; run `python -m bi datasources` first",
            file=sys.stderr,
        )
        return 1
    try:
        published = publish(files, settings)
    except PublishError as exc:
        print(f"bi publish: {exc}", file=sys.stderr)
        return 1
    for p in published:
        print(f"{p.file.name}: published as {p.name!r} (id {p.id})")
    print(
        f"bi publish: {len(published)} data sources to {settings.where}, project "
        f"{settings.project!r}, in {time.monotonic() - started:.1f} s"
    )
    return 0


def publish(files: list[Path], settings: Settings) -> list[Published]:
    """Sign in, publish each file in overwrite mode into the project, sign out. After a failure
    the sign-out is still tried; the failure is what gets reported."""
    import requests
    import tableauserverclient as TSC
    from tableauserverclient.server.endpoint.exceptions import TableauError, XMLError

    server = TSC.Server(settings.server_url, use_server_version=True)
    auth = TSC.PersonalAccessTokenAuth(settings.token_name, settings.token, site_id=settings.site)
    step = "sign-in"
    signed_in = False
    try:
        server.auth.sign_in(auth)
        signed_in = True
        step = f"finding project {settings.project!r}"
        project = _project(server, settings)
        published = []
        for file in files:
            step = f"publishing {file.name}"
            item = TSC.DatasourceItem(project.id)
            result = server.datasources.publish(item, str(file), TSC.Server.PublishMode.Overwrite)
            published.append(Published(file, result.name, result.id))
        step = "sign-out"
        signed_in = False  # tried once: its failure is the error reported below
        server.auth.sign_out()
        return published
    except XMLError as exc:
        reason = " ".join(f"{exc.code} {exc.summary}: {exc.detail}".split())
        raise PublishError(f"{step} on {settings.where} failed: {reason}") from None
    except requests.RequestException as exc:
        raise PublishError(f"{step}: cannot reach {settings.where}: {_one_line(exc)}") from None
    except TableauError as exc:
        raise PublishError(f"{step} on {settings.where} failed: {_one_line(exc)}") from None
    finally:
        if signed_in:
            try:
                server.auth.sign_out()
            except (TableauError, requests.RequestException) as exc:
                # the step's own error is reported; this one is said too (the session ends on
                # its own when the token's session expires)
                print(
                    f"warning: sign-out from {settings.where} failed: {_one_line(exc)}",
                    file=sys.stderr,
                )


def _project(server, settings: Settings):
    import tableauserverclient as TSC

    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(
            TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, settings.project
        )
    )
    projects = [p for p in TSC.Pager(server.projects, options) if p.name == settings.project]
    if len(projects) > 1:
        projects = [p for p in projects if not p.parent_id] or projects
    if not projects:
        raise PublishError(
            f"no project named {settings.project!r} on {settings.where}; "
            "create it or set TABLEAU_PROJECT"
        )
    if len(projects) > 1:
        raise PublishError(
            f"{len(projects)} projects named {settings.project!r} on {settings.where}; "
            "set TABLEAU_PROJECT to a unique name"
        )
    return projects[0]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
