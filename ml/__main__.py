"""``python -m ml train|promote|score --model delivery_delay``: the ML steps from a shell.

The warehouse is the one ``WAREHOUSE_TARGET`` names; MLflow the one ``MLFLOW_TRACKING_URI`` names
(default: SQLite under ``.local/mlflow``). Each command prints a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ingestion.warehouse import connect

from . import delay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    parser.add_argument("command", choices=["train", "promote", "score", "retrain"])
    parser.add_argument("--model", choices=["delivery_delay"], default="delivery_delay")
    parser.add_argument("--version", help="model version to promote (promote only)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    with connect() as wh:
        if args.command == "train":
            out = delay.train(wh)
        elif args.command == "promote":
            if not args.version:
                parser.error("promote needs --version (printed by `python -m ml train`)")
            out = delay.promote(wh, args.version)
        elif args.command == "score":
            out = delay.score(wh)
        else:
            out = delay.train(wh)
            out["promotion"] = delay.promote(wh, out["version"])
            out["scoring"] = delay.score(wh)
    out["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
