"""Command line: ``python -m medcloud.ai {train,evaluate,benchmark} --model ynet [--data DIR ...]``.

TensorFlow is imported only by the sub-command that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys

MODELS = ("ynet",)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m medcloud.ai", add_help=True)
    p.add_argument("command", choices=("train", "evaluate", "benchmark"))
    p.add_argument("--model", default="ynet", choices=MODELS)
    args, rest = p.parse_known_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command == "train":
        from medcloud.ai.ynet.train import main as run
    elif args.command == "evaluate":
        from medcloud.ai.ynet.evaluate import main as run
    else:
        from medcloud.ai.ynet.benchmark import main as run
    return int(run(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
