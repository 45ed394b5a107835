"""``python -m ml train|evaluate|promote|score|drift|retrain --model delivery_delay|demand``.

The ML steps from a shell. The warehouse is the one ``WAREHOUSE_TARGET`` names; MLflow the one
``MLFLOW_TRACKING_URI`` names (default: SQLite under ``.local/mlflow``). Each command prints a
one-line JSON summary per model; ``--model all`` runs both.

* ``train``     fit on the marts, log the run, register a new version (prints the version)
* ``evaluate``  holdout metrics of a version (default: the champion) and of the baselines, after
  the model's statement (version in use, newest version promoted or why not, holdout metric
  against the baselines, last drift verdict and why: what ``make run`` prints)
* ``promote``   give ``--version`` ``champion`` if it beats the baseline and the champion, and the
  quality gate passed; else ``challenger``
* ``score``     write the champion's scores / forecast to the warehouse
* ``drift``     each watched feature, champion's training window against the latest days
  (``ml.drift``), stored in ``ml.feature_drift``; exit code 1 if something drifted
* ``retrain``   train, promote and score
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ingestion.warehouse import connect

from . import config
from .drift import check
from .tasks import module, retrain, score


def _run(command: str, model: str, version: str | None) -> dict:
    mod = module(model)
    with connect() as wh:
        if command == "train":
            return mod.train(wh)
        if command == "evaluate":
            from .report import status

            result = mod.evaluate(wh, version)
            print("\n".join(status(wh, model, result).lines()), flush=True)
            return result
        if command == "promote":
            return mod.promote(wh, version)
        if command == "score":
            return mod.score(wh)
        if command == "drift":
            return check(wh, model)
    out = retrain(model)
    out["scoring"] = score(model)  # the champion scores, whichever version it is
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "command", choices=["train", "evaluate", "promote", "score", "drift", "retrain"]
    )
    parser.add_argument("--model", choices=[*config.MODELS, "all"], default=config.DELAY_MODEL)
    parser.add_argument("--version", help="model version (promote: required; evaluate: optional)")
    args = parser.parse_args(argv)
    if args.command == "promote" and not args.version:
        parser.error("promote needs --version (printed by `python -m ml train`)")
    code = 0
    for model in config.MODELS if args.model == "all" else (args.model,):
        began = time.perf_counter()
        out = _run(args.command, model, args.version)
        out["seconds"] = round(time.perf_counter() - began, 1)
        print(json.dumps(out, default=str), flush=True)
        if args.command == "drift" and out.get("drifted"):
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
