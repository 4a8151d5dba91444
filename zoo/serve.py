"""`zoo serve`: every model under saved_models/ behind TF Serving's REST API (and gRPC API).

    zoo serve --port 8501                    # or: python -m zoo.serve --port 8501
    zoo serve --port 8501 --grpc-port 8500   # also TF Serving's gRPC API
    curl localhost:8501/v1/models/sentiment-gru
    curl -d '{"instances": ["a fine film"]}' localhost:8501/v1/models/sentiment-gru:predict

This module is the command line: its flags, starting the servers, and stopping on
Ctrl-C or SIGTERM. The server itself is `zoo.serving`: `repository.py` (which
versions are served; models.config, polling, warm-up), `rest.py` (endpoints, JSON,
error bodies) and `grpc.py`.
"""

import argparse
import dataclasses
import logging
import os
import pathlib
import signal
import sys

from zoo import catalog
from zoo.serving import ModelRepository, make_grpc_server, make_server
from zoo.serving.batching import BatchingParameters, RequestBatcher
from zoo.serving.repository import POLL_SECONDS
from zoo.serving.rest import DEFAULT_HOST, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_PORT, DEFAULT_THREADS
from zoo.serving.signatures import DEFAULT_MAX_REQUEST_ROWS


def main(argv=None):
    """`zoo serve [flags]`: checks the flags, starts the servers, serves until Ctrl-C or SIGTERM."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:  # `zoo serve ...` and `python -m zoo.serve ...`
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    args.model_base_path = args.model_base_path or catalog.default_base_path()
    if not args.model_base_path.is_dir():
        sys.exit(
            f"zoo serve: --model-base-path {args.model_base_path}: no such folder "
            "(export a model with train.py)."
        )
    batcher = make_batcher(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    repository = ModelRepository(args.model_base_path, args.poll_seconds)
    server = bind_rest(args, repository, batcher)  # before any model loads: a taken port is said at once
    repository.start()
    grpc_server, grpc_port = start_grpc(args, repository, batcher)
    names = repository.model_names()
    grpc_line = f" and gRPC on {args.host}:{grpc_port}" if grpc_server else ""
    if batcher:
        grpc_line += f"; batching {_defaults(batcher.parameters)}"
    page = f"; the page: http://{args.host}:{server.effective_port}/" if args.ui else ""
    print(
        f"zoo serve: {len(names)} model(s) {names} from {args.model_base_path}/ on "
        f"http://{args.host}:{server.effective_port}/v1/models/<name>{grpc_line}{page}",
        flush=True,
    )
    serve_until_stopped(server, grpc_server, batcher, repository)


def bounded(kind, low, high):
    """An argparse type: a `kind` (int or float) from `low` to `high`, else the flag's error saying so;
    checked before any model loads."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
        return value

    return parse


PORT = bounded(int, 0, 65535)  # 0: any free port


def build_parser():
    parser = argparse.ArgumentParser(
        prog="zoo serve",
        description="Serve every model under --model-base-path with TF Serving's REST API.",
    )
    parser.add_argument(
        "--port", type=PORT, default=DEFAULT_PORT, help=f"REST port, 0 for any free one (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--grpc-port", type=PORT, default=None,
        help="also serve TF Serving's gRPC API here (TF Serving uses 8500; default: no gRPC)",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}: this machine only)",
    )
    parser.add_argument(
        "--model-base-path", type=pathlib.Path, default=None,
        help="folder of <model>/<version>/ exports (default: $ZOO_MODEL_DIR, else ./saved_models "
        f"if there is one, else the zoo's shipped models in {catalog.SHIPPED_DIR})",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=bounded(int, 1, 2**31 - 1),
        default=DEFAULT_MAX_REQUEST_BYTES,
        help=f"larger request bodies get 413 (default {DEFAULT_MAX_REQUEST_BYTES})",
    )
    parser.add_argument(
        "--max-batch-size", dest="max_request_rows",
        type=bounded(int, 1, 1_000_000),
        default=DEFAULT_MAX_REQUEST_ROWS,
        help=f"rows one request may carry; more get 413 (default {DEFAULT_MAX_REQUEST_ROWS})",
    )
    parser.add_argument(
        "--enable-batching", action="store_true",
        help="merge concurrent requests to one signature into one call, as TF Serving's --enable_batching "
        "(default: off; see zoo/serving/batching.py)",
    )
    parser.add_argument(
        "--batching-parameters-file", type=pathlib.Path, default=None,
        help="TF Serving's batching parameters (text format: max_batch_size, batch_timeout_micros, "
        f"max_enqueued_batches, num_batch_threads; default {_defaults(BatchingParameters())}); "
        "implies --enable-batching",
    )
    parser.add_argument(
        "--poll-seconds",
        type=bounded(float, 0.05, 86_400),
        default=POLL_SECONDS,
        help=f"how often to look for new versions and models.config changes (default {POLL_SECONDS})",
    )
    parser.add_argument(
        "--threads",
        type=bounded(int, 1, 1024),
        default=DEFAULT_THREADS,
        help=f"request threads (default {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--no-ui", dest="ui", action="store_false",
        help="no page: answer the API only (default: GET / lists the models, /models/<name>/ shows each "
        "with its card and a try-it panel)",
    )
    return parser


def make_batcher(args):
    """The `RequestBatcher` of --enable-batching / --batching-parameters-file, or None."""
    if not (args.enable_batching or args.batching_parameters_file):
        return None
    try:
        parameters = (BatchingParameters.from_file(args.batching_parameters_file)
                      if args.batching_parameters_file else BatchingParameters())
    except ValueError as error:
        sys.exit(f"zoo serve: --batching-parameters-file: {error}")
    return RequestBatcher(parameters)


def bind_rest(args, repository, batcher):
    """The REST server, bound to its port and not yet serving; a port that cannot be bound stops the
    command with the reason."""
    try:
        server = make_server(repository, args.host, args.port, args.max_request_bytes, args.threads,
                             args.max_request_rows, batcher, args.ui)
    except OSError as error:  # the port is taken, or the address is not this machine's
        repository.stop()
        sys.exit(f"zoo serve: cannot serve REST on {args.host}:{args.port} ({error.strerror or error}); "
                 "choose another --port.")
    return server


def start_grpc(args, repository, batcher):
    """(gRPC server, its port), serving, or (None, None) without --grpc-port."""
    grpc_server = grpc_port = None
    if args.grpc_port is not None:
        try:
            grpc_server, grpc_port = make_grpc_server(
                repository, args.host, args.grpc_port, args.max_request_bytes, args.threads, args.max_request_rows,
                batcher,
            )
        except OSError as error:
            sys.exit(str(error))
    return grpc_server, grpc_port


def serve_until_stopped(server, grpc_server, batcher, repository):
    """Serves until Ctrl-C or SIGTERM, then stops the servers, the batcher and the repository's polling."""
    # SIGTERM (`docker stop`, `kill`) stops the server as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.run()  # until Ctrl-C or SIGTERM
    finally:
        if grpc_server:
            grpc_server.stop(grace=5)
        if batcher:
            batcher.stop()
        repository.stop(timeout=10)
    print("zoo serve: stopped", flush=True)
    sys.stderr.flush()
    # Nothing is left to write; exit now rather than wait on TensorFlow's own threads
    # at interpreter shutdown, which once kept a stopped server alive past 30 s in CI.
    os._exit(0)


def _defaults(parameters):
    return ", ".join(f"{name} {value}" for name, value in dataclasses.asdict(parameters).items())


if __name__ == "__main__":
    main()
