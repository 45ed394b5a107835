"""``python -m bi extract|datasources|publish|report``: BI serving on the marts.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int`` (0 on success, 1 when the work failed, 2 for a usage problem); errors are
one line on stderr, never a traceback (``BI_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "extract": ("bi.extract", "Tableau .hyper extracts of the public marts and metrics tables"),
    "datasources": ("bi.datasources", "Tableau .tds/.tdsx data sources from the dbt manifest"),
    "publish": ("bi.publish", "publish the data sources to Tableau Server/Cloud (TABLEAU_*)"),
    "report": ("bi.excel", "the weekly business review as an .xlsx workbook"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bi", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # not built yet
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    try:
        return modules[args.command].run(args)
    except (OSError, ValueError, RuntimeError) as exc:
        if os.environ.get("BI_DEBUG"):
            raise
        print(f"bi {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
