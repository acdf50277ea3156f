"""Benchmark: how fast the canary analysis (CAN-01) stops a broken canary, against its interval, and how long the
demo's canary stage takes on a healthy sandbox.

    python bench/canary_detect.py [--repeat 3]

For each canary fault the analysis runs in-process against the sandbox (the sandbox's [stages.canary] policy:
interval 0.4 s, window 2.4 s, probe timeout 2 s). Time to detect is measured from the fault's onset (the first
canary sample that shows it; the analysis' start for faults every sample shows) to the analysis' verdict, and
printed in intervals beside the target of 2 intervals + the probe timeout. Measured here, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from golive.canary import analyse, http_sampler
from golive.config import HttpSettings, load_environment
from golive.probes.http import make_client
from golive.sandbox import Sandbox
from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.netutil import blackhole, closed_port

FAULTS = ("canary-5xx-later", "canary-slow", "canary-flapping", "canary-old-version", "canary-unhealthy")


def detect(box: Sandbox, fault: str | None, canary_url: str | None = None) -> tuple[str, float, float]:
    """(outcome, seconds from onset to verdict, whole analysis seconds) of one in-process analysis."""
    environ = box.environ()
    env = load_environment("sandbox", ROOT, environ)
    policy, app, stages = env.stages.canary, env.app, env.stages
    settings = HttpSettings(timeout_s=policy.probe_timeout_s, connect_timeout_s=policy.probe_timeout_s,
                            ca_bundle=env.http.ca_bundle)  # fmt: skip
    targets = {"canary": canary_url or str(app.canary_url)}
    targets |= {f"instance-{n}": str(u) for n, u in enumerate(app.instances, 1)}
    box.set_faults([fault] if fault else [])
    try:
        with make_client(settings) as client:
            release = (environ["GOLIVE_RELEASE_TAG"], environ["GOLIVE_RELEASE_COMMIT"])
            sample = http_sampler(client, targets, app.health_path, env.health, stages.version_field,
                                  stages.commit_field, *release)  # fmt: skip
            result = analyse(sample, ["instance-1", "instance-2"], [app.health_path, *policy.extra_paths], policy)
    finally:
        box.set_faults(())
    bad = [s for s in result.samples if s.target == "canary" and (s.problem or s.error)]
    onset = bad[0].at_s if bad and fault != "canary-slow" else 0.0
    return result.outcome, result.elapsed_s - onset, result.elapsed_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str, list[float], list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="golive-bench-") as tmp, Sandbox(Path(tmp) / "box") as box:
        env = load_environment("sandbox", ROOT, box.environ())
        interval, timeout = env.stages.canary.interval_s, env.stages.canary.probe_timeout_s
        cases: list[tuple[str, str | None, str | None]] = [(f, f, None) for f in FAULTS]
        cases.append(("canary unreachable (refused)", None, f"https://127.0.0.1:{closed_port()}"))
        with blackhole() as port:
            cases.append(("canary silent (timeouts)", None, f"https://127.0.0.1:{port}"))
            for label, fault, url in cases:
                outcomes, detects, totals = [], [], []
                for _ in range(args.repeat):
                    outcome, to_detect, total = detect(box, fault, url)
                    outcomes.append(outcome)
                    detects.append(to_detect)
                    totals.append(total)
                rows.append((label, "/".join(sorted(set(outcomes))), detects, totals))
        box.rollout.enter_stage("canary")
        stage_times = [run_checks("canary", clean_environ(box.environ()), Path(tmp) / f"r{n}").seconds
                       for n in range(args.repeat)]  # fmt: skip
    # Errors need consecutive_error_limit + 1 intervals, each at least one probe timeout long: when the timeout
    # exceeds the interval, a silent canary takes 2 timeouts (limit 1), not 2 intervals + a timeout.
    target = max(2 * interval + timeout, 2 * timeout)
    print(f"interval {interval} s, probe timeout {timeout} s, target <= max(2 intervals + timeout, 2 timeouts) = "
          f"{target:.1f} s")  # fmt: skip
    print(f"{'case':<32}{'outcome':>9}{'detect s':>10}{'intervals':>11}{'analysis s':>12}{'<= target':>11}")
    for label, outcome, detects, totals in rows:
        d = statistics.median(detects)
        ok = "yes" if max(detects) <= target else "NO"
        print(f"{label:<32}{outcome:>9}{d:>10.2f}{d / interval:>11.1f}{statistics.median(totals):>12.2f}{ok:>11}")
    print(f"{'demo canary stage (healthy), wall s':<41}{statistics.median(stage_times):>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
