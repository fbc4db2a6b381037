"""Command line: ``python -m medcloud.ai {train,evaluate,benchmark} --model NAME [--data DIR ...]``.

The model is looked up in ``medcloud.ai.registry``; the environment is read here, once
(``AIRuntime.from_environ``), and handed to the model's entry point with the remaining arguments.
TensorFlow is imported only by the sub-command that needs it.
"""

from __future__ import annotations

import argparse
import os
import sys

from medcloud.ai import registry
from medcloud.ai.runtime import AIRuntime


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m medcloud.ai", add_help=True)
    p.add_argument("command", choices=registry.COMMANDS)
    p.add_argument("--model", default="ynet", help=f"one of: {', '.join(registry.names())}")
    args, rest = p.parse_known_args(argv)
    try:
        spec = registry.get(args.model)
    except registry.UnknownModelError as e:
        p.error(str(e))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    runtime = AIRuntime.from_environ()
    run = spec.entry_point(args.command)
    return int(run(rest, runtime) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
