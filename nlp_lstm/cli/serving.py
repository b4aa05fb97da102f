"""`nlp-lstm serving ...`: TF Serving deployment commands.

nlp-lstm serving config saved_models/ [--policy latest|all|specific:N,M]
    [--base-path /models]
nlp-lstm serving check saved_models/NAME/VERSION [--server-version 2.19|2.20|2.21]
nlp-lstm serving client --url http://HOST:8501 --model NAME [--version N]
    [--grpc HOST:8500]
nlp-lstm serving export runs/NAME [--directory saved_models] [--name NAME]
"""

from __future__ import annotations

import os
import sys

from nlp_lstm.cli import common
from nlp_lstm.config import PRECISIONS

# The clients need numpy only (gRPC and TensorFlow when a GrpcClient is made).
from nlp_lstm.export.serving.client import (
    GrpcClient,
    RestClient,
    RetryPolicy,
    run_lines,
)
from nlp_lstm.utils import imports
from nlp_lstm.utils.files import atomic_write_bytes


def config_command(args) -> int:
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow
    # (which `nlp_lstm.export.saved_model` imports).
    from nlp_lstm.export.serving.models_config import config_text, models_config

    try:
        config, warnings = models_config(args.root, args.policy, args.base_path)
    except ValueError as error:
        raise common.fail(str(error)) from None
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
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    from nlp_lstm.export.layout import resolve
    from nlp_lstm.export.serving import opcheck

    path = resolve(args.saved_model)
    server_versions = args.server_version or sorted(opcheck.servers())
    failed = False
    for index, version in enumerate(server_versions):
        try:
            result = opcheck.check(path, version)
        except ValueError as error:
            raise common.fail(str(error)) from None
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


def make_client(args):
    """The gRPC client when `--grpc` is given, else the REST one."""
    policy = RetryPolicy(
        timeout=args.timeout, retries=args.retries, backoff=args.backoff
    )
    if args.grpc:
        return GrpcClient(args.grpc, args.model, args.version, args.signature, policy)
    return RestClient(
        args.url, args.model, args.version, args.signature, args.request_format,
        policy,
    )


def client_command(args) -> int:
    """Sends stdin lines to the server; one result line each on stdout."""
    if not args.url and not args.grpc:
        raise common.fail("serving client needs --url or --grpc")

    def write(text):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def report(message):
        print(f"error: {message}", file=sys.stderr, flush=True)

    client = make_client(args)
    try:
        failed = run_lines(
            client, common.stdin_lines(), args.batch_size, write, report, args.output
        )
    finally:
        if isinstance(client, GrpcClient):
            client.close()
    if failed:
        print(f"error: {failed} line(s) failed", file=sys.stderr)
    return 1 if failed else 0


def export_command(args) -> int:
    # Imported when the command runs: `nlp-lstm --help` starts without TensorFlow.
    # Keras first, without the optional libraries it would import for nothing.
    imports.import_keras()
    from nlp_lstm.export.serving.reexport import export_run

    lookup_tables = None if args.lookup_tables is None else args.lookup_tables == "on"
    path = export_run(
        args.run, args.directory, args.name, args.precision,
        args.shortlist, args.shortlist_frequent, lookup_tables,
    )
    print(f"exported {path}")
    return 0


def add_commands(subparsers) -> None:
    """Adds `serving config|check|client|export` to the `nlp-lstm` parser."""
    serving = subparsers.add_parser(
        "serving", help="TF Serving: models.config, op check, client"
    )
    commands = serving.add_subparsers(dest="serving_command", required=True)
    _add_config(commands)
    _add_check(commands)
    _add_client(commands)
    export = commands.add_parser(
        "export",
        help="export a new SavedModel version from a finished run, without training",
    )
    export.add_argument("run", help="run folder (runs/NAME) or its SavedModel")
    export.add_argument("--directory", help="SavedModel root (default: the run's)")
    export.add_argument(
        "--name", type=common.model_name,
        help="model folder name (default: the run's)",
    )
    export.add_argument(
        "--precision", choices=PRECISIONS,
        help="a translator's search arithmetic (decoding.precision; default: the "
        "run's): bfloat16 is faster on CPUs with bfloat16 instructions",
    )
    export.add_argument(
        "--shortlist", type=common.non_negative_int,
        help="a translator's decoding.shortlist: search over the N likeliest "
        "translations of each source piece (estimated on the run's training "
        "corpus, which must be where it was) plus the frequent pieces; 0: the "
        "whole vocabulary (default: the run's)",
    )
    export.add_argument(
        "--shortlist-frequent", type=common.non_negative_int,
        help="with --shortlist: the most frequent target pieces that are "
        "always candidates (default: the run's decoding.shortlist_frequent)",
    )
    export.add_argument(
        "--lookup-tables", choices=("on", "off"),
        help="a translator's decoding.lookup_tables: products with every "
        "embedding kept as tables, a faster search in a larger SavedModel "
        "(default: the run's)",
    )
    export.set_defaults(handler=export_command)


def _add_config(commands) -> None:
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


def _add_check(commands) -> None:
    check = commands.add_parser(
        "check", help="list the ops of a SavedModel and check them against a server"
    )
    check.add_argument("saved_model", help="saved_models/NAME/VERSION (or NAME)")
    check.add_argument(
        "--server-version",
        action="append",
        choices=["2.19", "2.20", "2.21"],
        help="TF Serving release to check against (repeatable; default: all known)",
    )
    check.set_defaults(handler=check_command)


def _add_client(commands) -> None:
    client = commands.add_parser(
        "client", help="send stdin lines to a model server, print the results"
    )
    client.add_argument("--url", type=common.http_url, help="REST endpoint, e.g. http://localhost:8501")
    client.add_argument(
        "--grpc",
        help="gRPC endpoint, e.g. localhost:8500 (used instead of --url when given)",
    )
    client.add_argument("--model", required=True, help="model name on the server")
    client.add_argument(
        "--version", type=common.positive_int, help="model version (default: latest)"
    )
    client.add_argument("--signature", default="serving_default")
    client.add_argument(
        "--request-format",
        choices=["instances", "inputs"],
        default="instances",
        help="REST body: row (instances) or columnar (inputs) form",
    )
    client.add_argument("--output", choices=["text", "json"], default="text")
    client.add_argument("--batch-size", type=common.positive_int, default=16)
    client.add_argument(
        "--timeout", type=common.positive_float, default=30.0, help="seconds a request"
    )
    client.add_argument(
        "--retries",
        type=common.non_negative_int,
        default=3,
        help="retries when the server is unavailable",
    )
    client.add_argument(
        "--backoff",
        type=common.positive_float,
        default=0.5,
        help="seconds before the first retry, doubled each time",
    )
    client.set_defaults(handler=client_command)
