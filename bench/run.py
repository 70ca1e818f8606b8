"""Runs the benchmarks in bench/ (`make bench`), prints their tables, writes JSON to bench/results/.

    .venv/bin/python bench/run.py                 # all of them
    .venv/bin/python bench/run.py ws_fanout --sizes 10,100 --layers pubsub
    .venv/bin/python bench/run.py --help          # every benchmark's options

A benchmark is a module in bench/ listed in BENCHMARKS with:
    NAME                 its name (also the results file name)
    add_arguments(p)     its command-line options (an argparse parser)
    run(options) -> dict the measurements, JSON-serialisable, with "checks": [{"check", "ok", ...}]
    report(dict) -> str  the table to print
The exit status is 1 when any check fails (a missed target), 2 when a benchmark could not run.
"""

import argparse
import datetime
import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, add_shared_arguments  # noqa: E402

BENCHMARKS = ["ws_fanout", "stock", "orders", "positions", "trails", "verify_trail"]


def _load(name):
    """A benchmark module under the name `bench_<name>`: bench/orders.py must not become the
    portal's `orders` app for a benchmark that sets Django up in this process (verify_trail)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    modules = {name: _load(name) for name in BENCHMARKS}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    add_shared_arguments(parser)
    for module in modules.values():
        module.add_arguments(parser)
    options = parser.parse_args(argv)
    names = options.names or BENCHMARKS
    unknown = [n for n in names if n not in modules]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in names:
        module = modules[name]
        print(f"== {name}", flush=True)
        try:
            data = module.run(options)
        except Exception:
            traceback.print_exc()
            status = 2
            continue
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for path in (RESULTS / f"{name}-{stamp}.json", RESULTS / f"{name}-latest.json"):
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(module.report(data))
        print(f"\nResults: {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}/{name}-{stamp}.json\n")
        if not all(c["ok"] for c in data.get("checks", [])):
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
