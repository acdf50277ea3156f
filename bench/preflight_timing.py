"""Benchmark: sandbox start time, the preflight stage serial against `-n auto` side by side, and the whole
demo (`golive demo`: sandbox, four stages, rolling deploy, reports) as `make demo` runs it.

    python bench/preflight_timing.py [--repeat 3] [--no-demo]

Prints a table of wall times (median of the repeats) and the ratio parallel/serial. Timings are measured
here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from golive.sandbox import Sandbox
from tests.e2e.harness import clean_environ, run_checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-demo", action="store_true", help="leave out the whole-demo timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmp:
        starts = []
        for n in range(args.repeat):
            began = time.perf_counter()
            box = Sandbox(Path(tmp) / f"start-{n}")
            box.start()
            starts.append(time.perf_counter() - began)
            box.stop()
        with Sandbox(Path(tmp) / "run") as box:
            environ = clean_environ(box.environ())
            timings: dict[str, list[float]] = {"serial": [], "-n auto": []}
            for n in range(args.repeat):
                for label, extra in (("serial", []), ("-n auto", ["-n", "auto"])):
                    run = run_checks("preflight", environ, Path(tmp) / f"r-{label}-{n}", *extra)
                    timings[label].append(run.seconds)
        demos = [] if args.no_demo else [demo_seconds(Path(tmp) / f"demo-{n}") for n in range(args.repeat)]
    serial, parallel = statistics.median(timings["serial"]), statistics.median(timings["-n auto"])
    print(f"{'measure':<32}{'median s':>10}{'runs':>6}")
    print(f"{'sandbox start (PG + replica)':<32}{statistics.median(starts):>10.2f}{len(starts):>6}")
    print(f"{'preflight, serial':<32}{serial:>10.2f}{len(timings['serial']):>6}")
    print(f"{'preflight, -n auto':<32}{parallel:>10.2f}{len(timings['-n auto']):>6}")
    if demos:
        print(f"{'golive demo (make demo)':<32}{statistics.median(demos):>10.2f}{len(demos):>6}")
    print(f"ratio -n auto / serial: {parallel / serial:.2f}")
    return 0


def demo_seconds(reports: Path) -> float:
    """Wall time of `golive demo` writing its reports to ``reports`` (it must end in go)."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "golive.cli", "demo", "--reports", str(reports)],
                          env=clean_environ({}), capture_output=True, text=True, timeout=900)  # fmt: skip
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"golive demo ended with {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
