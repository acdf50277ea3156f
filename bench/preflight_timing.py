"""Benchmark: sandbox start time, and the preflight stage serial against `-n auto`, side by side.

    python bench/preflight_timing.py [--repeat 3]

Prints a table of wall times (median of the repeats) and the ratio parallel/serial. Timings are measured
here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import statistics
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
    serial, parallel = statistics.median(timings["serial"]), statistics.median(timings["-n auto"])
    print(f"{'measure':<32}{'median s':>10}{'runs':>6}")
    print(f"{'sandbox start (PG + replica)':<32}{statistics.median(starts):>10.2f}{len(starts):>6}")
    print(f"{'preflight, serial':<32}{serial:>10.2f}{len(timings['serial']):>6}")
    print(f"{'preflight, -n auto':<32}{parallel:>10.2f}{len(timings['-n auto']):>6}")
    print(f"ratio -n auto / serial: {parallel / serial:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
