"""``python -m benchmarks [--quick] [--instructions] [--json FILE] [--chart FILE] [--case TEXT]``.

``--case "import time"`` runs the import-time pairs alone.

A full run (10 rounds of 1.2-second blocks per side) takes about 5-8 minutes on 2 cores;
``--quick`` (2 rounds of 0.2 s) well under a minute: a smoke run, not a measurement.
``--instructions`` adds the instruction counts under valgrind (about 10 more minutes;
``benchmarks/instructions.py``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.cases import cases
from benchmarks.import_time import measure_import_times
from benchmarks.instructions import has_valgrind, measure_instructions
from benchmarks.report import case_results, draw_chart, print_table, write_json
from benchmarks.runner import run_sides
from benchmarks.stubs import compile_generated, compile_stubs

#: Every block stops after this many calls, however fast the machine.
MAX_CALLS_PER_BLOCK = 1_000_000


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for distribution in ("grpcio", "protobuf", "grpc-greeter", "grpclib", "pygrpc-native"):
        try:
            found[distribution] = version(distribution)
        except Exception:  # not installed: left out
            continue
    return found


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.2 s: a smoke run")
    parser.add_argument("--rounds", type=int, help="rounds per case (default: 10; quick: 2)")
    parser.add_argument(
        "--seconds", type=float, help="seconds per block (default: 1.2; quick: 0.2)"
    )
    parser.add_argument("--case", action="append", help="run only cases whose name contains this")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--chart", type=Path, help="draw the ratios here (PNG; needs matplotlib)")
    parser.add_argument("--no-import-time", action="store_true", help="skip the import-time case")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per call under valgrind (a few minutes; needs valgrind)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="counts per side of each instruction case"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    rounds = args.rounds or (2 if args.quick else 10)
    seconds = args.seconds or (0.2 if args.quick else 1.2)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="greeter-bench-") as stubs_dir:
        stubs = Path(stubs_dir)
        with_grpclib = compile_stubs(stubs)
        compile_generated(stubs)
        for case in cases(with_grpclib):
            if args.case and not any(text in case.name for text in args.case):
                continue
            print(f"running: {case.name}", file=sys.stderr, flush=True)
            measured = run_sides(list(case.sides), stubs, rounds, seconds, MAX_CALLS_PER_BLOCK)
            results.append(case_results(case, measured))
        imports = None
        # "import time" is a case name too: ``--case "import time"`` runs only it.
        if not args.no_import_time and (
            not args.case or any(text in "import time" for text in args.case)
        ):
            print("running: import time", file=sys.stderr, flush=True)
            imports = measure_import_times(3 if args.quick else 15, stubs)
        counted = None
        if args.instructions:
            if not has_valgrind():
                print("--instructions needs valgrind (apt install valgrind)", file=sys.stderr)
                return 2
            print("running: instruction counts", file=sys.stderr, flush=True)
            counted = measure_instructions(stubs, args.quick, args.repeats, args.case)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(),
        "rounds": rounds,
        "seconds_per_block": seconds,
        "cases": results,
        "import_time": imports,
        "instructions": counted,
        "duration_seconds": round(time.monotonic() - started, 1),
    }
    print_table(results, imports, counted)
    print(f"\n{rounds} rounds of {seconds:g} s blocks; took {report['duration_seconds']} s")
    if args.json is not None:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    if args.chart is not None:
        if draw_chart(args.chart, results, counted):
            print(f"drew {args.chart}")
        else:
            print("no chart: matplotlib is not installed (pip install 'grpc-greeter[bench]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
