"""Benchmark: how fast the canary analysis (CAN-01) stops a broken canary, against its interval, and how long the
demo's canary stage takes on a healthy sandbox.

    python bench/canary_detect.py [--repeat 3]

For each canary fault the analysis runs in-process against the sandbox (its [stages.canary] policy: interval
0.4 s, window 2.4 s, probe timeout 2 s), counting the release's error events in the Sentry stand-in as the check
does. Time to detect is measured from the fault's onset (the first canary sample that shows it; the analysis'
start for faults every sample shows) to the analysis' verdict, and printed in intervals beside the target of
2 intervals + the probe timeout. The demo's canary stage is `pytest -m canary --env sandbox -n auto`, as
`golive demo` runs it. Measured here, never asserted.
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
from golive.probes.sentry import ReleaseErrorCounter, SentryApi
from golive.sandbox import Sandbox
from golive.secrets import Secret
from tests.e2e.harness import ROOT, clean_environ, run_checks
from tests.netutil import blackhole

FAULTS = ("canary-5xx-later", "canary-slow", "canary-flapping", "canary-old-version", "canary-unhealthy",
          "canary-unreachable", "canary-errors-in-sentry")  # fmt: skip
SILENT = "canary silent (timeouts)"


def detect(box: Sandbox, fault: str | None, canary_url: str | None = None) -> tuple[str, float, float]:
    """(outcome, seconds from onset to verdict, whole analysis seconds) of one in-process analysis."""
    box.rollout.reset_count("canary", "5xx-later")  # canary-5xx-later counts its 8 good answers from each onset
    box.set_faults([fault] if fault else [])
    environ = box.environ()
    env = load_environment("sandbox", ROOT, environ)
    policy, app, stages, sentry = env.stages.canary, env.app, env.stages, env.sentry
    settings = HttpSettings(timeout_s=policy.probe_timeout_s, connect_timeout_s=policy.probe_timeout_s,
                            ca_bundle=env.http.ca_bundle)  # fmt: skip
    targets = {"canary": canary_url or str(app.canary_url)}
    targets |= {f"instance-{n}": str(u) for n, u in enumerate(app.instances, 1)}
    release = (environ["GOLIVE_RELEASE_TAG"], environ["GOLIVE_RELEASE_COMMIT"])
    try:
        with make_client(settings) as client, make_client(env.http) as http:
            token = Secret("SENTRY_AUTH_TOKEN", environ["SENTRY_AUTH_TOKEN"])
            api = SentryApi(str(sentry.api_url), str(sentry.org), str(sentry.project), token)
            events = ReleaseErrorCounter(http, api, sentry.release.format(tag=release[0], commit=release[1]),
                                         sentry.environment or env.name)  # fmt: skip
            sample = http_sampler(client, targets, app.health_path, env.health, stages.version_field,
                                  stages.commit_field, *release)  # fmt: skip
            paths = [app.health_path, *policy.extra_paths]
            result = analyse(sample, ["instance-1", "instance-2"], paths, policy, events=events)
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
        policy = load_environment("sandbox", ROOT, box.environ()).stages.canary
        interval, timeout, limit = policy.interval_s, policy.probe_timeout_s, policy.consecutive_error_limit
        cases: list[tuple[str, str | None, str | None]] = [(f, f, None) for f in FAULTS]
        with blackhole() as port:
            cases.append((SILENT, None, f"https://127.0.0.1:{port}"))
            for label, fault, url in cases:
                measured = [detect(box, fault, url) for _ in range(args.repeat)]
                rows.append((label, "/".join(sorted({m[0] for m in measured})), [m[1] for m in measured],
                             [m[2] for m in measured]))  # fmt: skip
        box.rollout.enter_stage("canary")
        stage_times = [run_checks("canary", clean_environ(box.environ()), Path(tmp) / f"r{n}", "-n", "auto").seconds
                       for n in range(args.repeat)]  # fmt: skip
    target = 2 * interval + timeout
    print(f"interval {interval} s, probe timeout {timeout} s, target <= 2 intervals + timeout = {target:.1f} s; "
          f"median and max of {args.repeat} runs")  # fmt: skip
    print(f"{'case':<30}{'outcome':>9}{'detect s':>10}{'max s':>8}{'intervals':>11}{'analysis s':>12}{'target':>8}")
    for label, outcome, detects, totals in rows:
        d = statistics.median(detects)
        ok = "yes" if max(detects) <= target else "NO"
        print(f"{label:<30}{outcome:>9}{d:>10.2f}{max(detects):>8.2f}{d / interval:>11.1f}"
              f"{statistics.median(totals):>12.2f}{ok:>8}")  # fmt: skip
    print(
        f"{SILENT}: a probe that waits out its {timeout} s timeout leaves {int(timeout / interval + 1e-9)} intervals "
        f"unanswered, more than consecutive_error_limit = {limit}: it stops after one timeout."
    )
    print(f"{'demo canary stage (healthy, -n auto), wall s':<47}{statistics.median(stage_times):>8.2f}"
          f"  (runs: {', '.join(f'{t:.2f}' for t in stage_times)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
