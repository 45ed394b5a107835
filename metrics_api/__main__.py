"""``python -m metrics_api``: serve the API, ask a question, or publish a build id.

python -m metrics_api serve [--host 127.0.0.1] [--port 8070]
python -m metrics_api ask "on-time rate by carrier last week"
python -m metrics_api publish-build      # what the transform DAG does after a build
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metrics_api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API and the live page (uvicorn)")
    serve.add_argument("--host", help="address to bind (API_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (API_PORT, default 8070)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ask = sub.add_parser("ask", help="answer one question and print the JSON")
    ask.add_argument("question")
    sub.add_parser("publish-build", help="record a new marts build id (retires cached answers)")
    args = parser.parse_args(argv)

    from .settings import ApiSettings

    settings = ApiSettings.from_env()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "publish-build":
        from .build import publish

        print(json.dumps(publish(settings.build_file, settings.target).__dict__))
        return 0
    if args.command == "ask":
        from .ask import Asker, NotUnderstood
        from .service import MetricsService

        try:
            answer = Asker(MetricsService(settings)).ask(args.question)
        except NotUnderstood as exc:
            print(json.dumps(exc.body(), indent=2))
            return 2
        print(json.dumps(answer.body(), indent=2, default=str))
        return 0

    import uvicorn

    host, port = args.host or settings.host, args.port or settings.port
    # warm start: dbt parse when the models changed, then MetricFlow, before the first request
    from .semantic import ensure_manifest

    ensure_manifest(settings)
    uvicorn.run(
        "metrics_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
