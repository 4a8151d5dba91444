"""`python -m zoo.export`: TF Serving's models.config for a folder of exports, or an export's
LiteRT / ONNX files.

    python -m zoo.export saved_models --base-path-prefix /models      # rewrite models.config
    python -m zoo.export sentiment-imdb-gru --format litert onnx       # <version>/edge/ (zoo.edge)
    python -m zoo.export saved_models/forecasting-gru/3 --format litert --quantize dynamic
    python -m zoo.export ctc_speech-fsdd-lstm --format litert --output my_edge/   # a shipped model: elsewhere
"""

import argparse
import sys

from zoo.export import write_models_config
from zoo.layout import model_names


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zoo.export",
        description="Rewrite <base>/models.config for TF Serving; with --format, convert one exported "
        "model to LiteRT and/or ONNX instead.",
    )
    parser.add_argument("target", nargs="?", default="saved_models",
                        help="the base folder (default saved_models); with --format, a model: a name "
                        "(as zoo.load takes it) or a version folder")
    parser.add_argument(
        "--base-path-prefix",
        help="base_path = PREFIX/<model>, the folder as the server sees it (e.g. /models in "
        "Docker); kept by later exports; '' for absolute paths (the default)",
    )
    parser.add_argument("--output", help="write the config to this file instead of <base>/models.config; with "
                        "--format, the folder for the on-device files instead of <version>/edge/ (needed for a "
                        "shipped model, whose files git tracks)")
    parser.add_argument("--format", nargs="+", metavar="FORMAT",
                        help="litert and/or onnx: write <version>/edge/ for the model TARGET")
    parser.add_argument("--quantize", choices=["dynamic"],
                        help="with --format litert: int8 weights (post-training dynamic range)")
    args = parser.parse_args(argv)
    if args.format:
        from zoo import edge

        try:
            files = edge.convert(args.target, args.format, args.quantize, args.output)
        except (ValueError, FileNotFoundError, KeyError) as error:  # EdgeError is a ValueError
            sys.exit(f"zoo.export: {error}")
        for item in files:
            print(f"wrote {item.path} ({item.path.stat().st_size / 1e6:.1f} MB; max difference from "
                  f"TensorFlow {item.max_difference:.2g})")
        return
    if args.quantize:
        parser.error("--quantize goes with --format litert.")
    if not model_names(args.target):
        sys.exit(f"zoo.export: no exported models in {args.target}/.")
    try:
        path = write_models_config(args.target, args.base_path_prefix, args.output)
    except (OSError, ValueError) as error:  # a folder that cannot be written, a models.config that cannot be read
        sys.exit(f"zoo.export: cannot write {args.output or 'models.config'}: {getattr(error, 'strerror', None) or error}"
                 + (f" ({error.filename})" if getattr(error, "filename", None) else "") + ".")
    print(path.read_text(), end="")


if __name__ == "__main__":
    main()
