"""``python -m medcloud.sdk check PACKAGE`` and ``python -m medcloud.sdk run PACKAGE --series DIR --out DIR``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medcloud.sdk", description="MedCloud model SDK tools")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a package folder or zip without running it")
    check.add_argument("package")
    check.add_argument(
        "--bundled",
        action="store_true",
        help="a package shipped with the platform (a folder under medcloud/ai/, or the platform's zip of one):"
        " it may import medcloud.ai",
    )
    run = sub.add_parser("run", help="run a package on a DICOM series and write SEG/SR/JSON as the platform would")
    run.add_argument("package")
    run.add_argument("--series", required=True, help="a folder holding one DICOM series")
    run.add_argument("--out", required=True, help="the output folder")
    run.add_argument("--sandbox", action="store_true", help="run in the bubblewrap sandbox, as the platform does")
    run.add_argument("--bundled", action="store_true", help="a package shipped with the platform (see check)")
    run.add_argument("--ran-by", default=None, help="who runs it (provenance); default: the current user")
    run.add_argument("--wall-seconds", type=float, default=None)
    run.add_argument("--cpu-seconds", type=int, default=None)
    run.add_argument("--memory-mib", type=int, default=None)
    args = parser.parse_args(argv)

    from medcloud.sdk.validate import PackageError, validate_package

    if args.command == "check":
        problems = validate_package(args.package, bundled=args.bundled)
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s)" if problems else "ok: the package is valid", file=sys.stderr)
        return 1 if problems else 0

    from medcloud.sdk.results import ResultError
    from medcloud.sdk.runner import RunError, run_package
    from medcloud.sdk.series import SeriesError

    limits = None
    if args.sandbox:
        import dataclasses

        from medcloud.sdk.sandbox import SandboxLimits

        overrides = {
            k: v
            for k, v in {
                "wall_seconds": args.wall_seconds,
                "cpu_seconds": args.cpu_seconds,
                "memory_bytes": args.memory_mib << 20 if args.memory_mib else None,
            }.items()
            if v is not None
        }
        limits = dataclasses.replace(SandboxLimits(), **overrides)

    def progress(percent: float, message: str) -> None:
        print(f"[{percent:5.1f}%] {message}", file=sys.stderr)

    try:
        doc = run_package(
            args.package,
            args.series,
            args.out,
            sandbox=args.sandbox,
            limits=limits,
            ran_by=args.ran_by,
            on_progress=progress,
            bundled=args.bundled,
        )
    except PackageError as exc:
        for p in exc.problems:
            print(p)
        return 1
    except RunError as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        err = exc.detail.get("stderr")
        if err:
            print(err[-4000:], file=sys.stderr)
        return 2
    except (ResultError, SeriesError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    files = [f for v in doc["dicom"].values() for f in v]
    print(
        f"wrote {args.out}/results.json and {len(files)} DICOM file(s):"
        f" {', '.join(files[:5])}{' ...' if len(files) > 5 else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
