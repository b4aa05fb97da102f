"""`nlp-lstm serving ...`: TF Serving deployment commands.

nlp-lstm serving config saved_models/ [--policy latest|all|specific:N,M]
    [--base-path /models]
nlp-lstm serving check saved_models/NAME/VERSION [--server-version 2.19|2.20]
nlp-lstm serving client --url http://HOST:8501 --model NAME [--version N]
    [--grpc HOST:8500]
nlp-lstm serving export runs/NAME [--directory saved_models] [--name NAME]
"""

from __future__ import annotations

import os
import sys


def config_command(args) -> int:
    from nlp_lstm.export.serving.models_config import config_text, models_config
    from nlp_lstm.utils.files import atomic_write_bytes

    try:
        config, warnings = models_config(args.root, args.policy, args.base_path)
    except ValueError as error:
        raise SystemExit(f"error: {error}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    text = config_text(config)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    output = args.output or os.path.join(args.root, "models.config")
    atomic_write_bytes(output, text.encode("utf-8"))
    names = [entry.name for entry in config.model_config_list.config]
    print(f"wrote {output} ({len(names)} models: {', '.join(names)})")
    return 0


def check_command(args) -> int:
    from nlp_lstm.export.saved_model import resolve
    from nlp_lstm.export.serving import opcheck

    path = resolve(args.saved_model)
    server_versions = args.server_version or sorted(opcheck.servers())
    failed = False
    for index, version in enumerate(server_versions):
        try:
            result = opcheck.check(path, version)
        except ValueError as error:
            raise SystemExit(f"error: {error}")
        if index == 0:
            print(f"{path}: ops by signature")
            for signature, counts in result.ops.items():
                print(f"  {signature} ({len(counts)} ops): {' '.join(sorted(counts))}")
        if result.ok:
            print(f"ok: every op and attr is registered in {result.describe_server()}")
        else:
            failed = True
            for error in result.errors():
                print(f"error: {error}")
    return 1 if failed else 0


def client_command(args) -> int:
    from nlp_lstm.serving_client import main_lines

    if not args.url and not args.grpc:
        raise SystemExit("error: serving client needs --url or --grpc")
    if args.batch_size < 1:
        raise SystemExit(f"error: --batch-size must be positive, got {args.batch_size}")
    lines = (raw.rstrip(b"\r\n") for raw in sys.stdin.buffer)
    return main_lines(args, lines)


def export_command(args) -> int:
    from nlp_lstm.export.serving.reexport import export_run

    path = export_run(args.run, args.directory, args.name)
    print(f"exported {path}")
    return 0


def add_commands(subparsers) -> None:
    serving = subparsers.add_parser(
        "serving", help="TF Serving: models.config, op check, client"
    )
    commands = serving.add_subparsers(dest="serving_command", required=True)

    config = commands.add_parser(
        "config", help="write models.config for every model of a SavedModel root"
    )
    config.add_argument("root", help="SavedModel root, e.g. saved_models/")
    config.add_argument(
        "--policy",
        default="latest",
        help="version policy: latest, all or specific:N,M (default latest)",
    )
    config.add_argument(
        "--base-path",
        help="the root as the server sees it (e.g. /models in Docker); "
        "default: its absolute path here",
    )
    config.add_argument(
        "--output", help="file to write (default ROOT/models.config; - for stdout)"
    )
    config.set_defaults(handler=config_command)

    check = commands.add_parser(
        "check", help="list the ops of a SavedModel and check them against a server"
    )
    check.add_argument("saved_model", help="saved_models/NAME/VERSION (or NAME)")
    check.add_argument(
        "--server-version",
        action="append",
        choices=["2.19", "2.20"],
        help="TF Serving release to check against (repeatable; default: all known)",
    )
    check.set_defaults(handler=check_command)

    client = commands.add_parser(
        "client", help="send stdin lines to a model server, print the results"
    )
    client.add_argument("--url", help="REST endpoint, e.g. http://localhost:8501")
    client.add_argument(
        "--grpc",
        help="gRPC endpoint, e.g. localhost:8500 (used instead of --url when given)",
    )
    client.add_argument("--model", required=True, help="model name on the server")
    client.add_argument("--version", type=int, help="model version (default: latest)")
    client.add_argument("--signature", default="serving_default")
    client.add_argument(
        "--request-format",
        choices=["instances", "inputs"],
        default="instances",
        help="REST body: row (instances) or columnar (inputs) form",
    )
    client.add_argument("--output", choices=["text", "json"], default="text")
    client.add_argument("--batch-size", type=int, default=16)
    client.add_argument("--timeout", type=float, default=30.0, help="seconds a request")
    client.add_argument(
        "--retries", type=int, default=3, help="retries when the server is unavailable"
    )
    client.add_argument(
        "--backoff",
        type=float,
        default=0.5,
        help="seconds before the first retry, doubled each time",
    )
    client.set_defaults(handler=client_command)

    export = commands.add_parser(
        "export",
        help="export a new SavedModel version from a finished run, without training",
    )
    export.add_argument("run", help="run folder (runs/NAME) or its SavedModel")
    export.add_argument("--directory", help="SavedModel root (default: the run's)")
    export.add_argument("--name", help="model folder name (default: the run's)")
    export.set_defaults(handler=export_command)
