"""The canary analysis engine: per-interval classification, limits that stop it early, the Mann-Whitney
comparison against the baseline, and the HTTP sampler against a real loopback server."""

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from golive.canary import (
    NO_ERROR_TRACKER,
    Kind,
    Sample,
    analyse,
    classify,
    compare,
    http_sampler,
    latency_metric,
    logs_evidence,
    review_decision,
)
from golive.config import CanaryPolicy, HealthPolicy
from golive.outcomes import ProbeError
from golive.progress import ProgressRelay, append_line
from golive.release import ReleaseFile
from tests.netutil import closed_port

FAST = CanaryPolicy(initial_delay_s=0, interval_s=0.02, window_s=0.2, requests_per_interval=4, min_samples=4,
                    latency_floor_ms=5, latency_floor_ratio=0.25)  # fmt: skip
PATHS = ["/api/health"]


def scripted(canary, baseline=lambda n: Sample("instance-1", "/api/health", 200, 10.0 + n % 3)):
    """A sampler whose canary answers come from canary(n) for its n-th request (the engine's input, not a mock)."""
    counters = {"canary": itertools.count(), "instance-1": itertools.count()}

    def sample(target, path):
        n = next(counters[target])
        return canary(n) if target == "canary" else baseline(n)

    return sample


def healthy(n):
    return Sample("canary", "/api/health", 200, 10.0 + n % 3)


def test_a_healthy_canary_passes_after_the_whole_window():
    lines = []
    result = analyse(scripted(healthy), ["instance-1"], PATHS, FAST, lines.append)
    assert result.outcome == "passed", result.reason
    assert len(result.intervals) == 10 == result.planned_intervals
    assert all(i.kind is Kind.SUCCESS for i in result.intervals)
    assert len(lines) == 10
    assert lines[0].startswith("canary 1/10 success")
    assert "score 100" in lines[-1]
    assert len(result.samples) == 10 * 4 * 2
    assert result.elapsed_s >= 0.18


def test_a_failure_stops_the_analysis_in_the_interval_it_shows():
    def breaks_later(n):
        return Sample("canary", "/api/health", 503, 10.0, problem="status 503, expected 200") if n >= 6 else healthy(n)

    result = analyse(scripted(breaks_later), ["instance-1"], PATHS, FAST)
    assert result.outcome == "failed"
    assert len(result.intervals) == 2  # request 6 is in interval 2 (4 requests per interval)
    assert result.reason == (
        "interval 2 of 10: 1 failed interval(s) (failure limit 0): 2 of 4 canary answers failed: "
        "GET /api/health: status 503, expected 200"
    )


def test_failure_limit_tolerates_that_many_failed_intervals():
    def flaps(n):
        return Sample("canary", "/api/health", 503, 10.0, problem="status 503") if n % 8 == 0 else healthy(n)

    policy = FAST.model_copy(update={"failure_limit": 2, "max_error_rate_increase": 1.0})  # limits only
    result = analyse(scripted(flaps), ["instance-1"], PATHS, policy)
    assert result.outcome == "failed"
    assert len(result.intervals) == 5  # failures in intervals 1, 3, 5: the third crosses the limit of 2


def test_consecutive_errors_stop_within_two_intervals():
    def unreachable(_n):
        return Sample("canary", "/api/health", error="connection refused")

    result = analyse(scripted(unreachable), ["instance-1"], PATHS, FAST)
    assert result.outcome == "failed"
    assert len(result.intervals) == 2
    assert "2 consecutive intervals with probe errors (limit 1): 1 of 1 canary probes failed" in result.reason


class FakeTime:
    """The engine's clock and sleep on a timeline the test drives: a probe timeout passes without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_silent_canary_stops_within_the_limits_intervals_plus_one_probe_timeout():
    """Interval 0.4 s, probe timeout 2 s: the first unanswered probe leaves intervals 1 to 5 without an answer,
    which crosses the consecutive-error limit at once, instead of after a second timeout."""
    timeline = FakeTime()
    policy = CanaryPolicy(initial_delay_s=0, interval_s=0.4, window_s=4.0, probe_timeout_s=2.0, requests_per_interval=2)

    def silent(_n):
        timeline.now += 2.0  # the probe waits out its timeout
        return Sample("canary", "/api/health", error="read timed out")

    result = analyse(scripted(silent), ["instance-1"], PATHS, policy, sleep=timeline.sleep, clock=timeline.clock)
    assert result.outcome == "failed"
    assert result.reason == (
        "interval 5 of 10: 5 consecutive intervals with probe errors (limit 1): 1 of 1 canary probes failed: "
        "GET /api/health: read timed out (no answer for 2.0 s: intervals 1 to 5)"
    )
    assert result.elapsed_s <= 2 * 0.4 + 2.0
    assert [(i.index, i.kind) for i in result.intervals] == [(1, Kind.ERROR)]


def test_a_probe_slower_than_the_interval_leaves_every_interval_it_spans_unanswered_then_sampling_resumes():
    timeline = FakeTime()
    policy = CanaryPolicy(initial_delay_s=0, interval_s=0.4, window_s=2.0, requests_per_interval=1,
                          min_samples=3, error_limit=5, consecutive_error_limit=3)  # fmt: skip

    def once_silent(n):
        if n == 0:
            timeline.now += 0.9
            return Sample("canary", "/api/health", error="read timed out")
        return healthy(n)

    result = analyse(scripted(once_silent), ["instance-1"], PATHS, policy, sleep=timeline.sleep, clock=timeline.clock)
    first = result.intervals[0]
    assert (first.index, first.kind) == (1, Kind.ERROR)
    assert result.intervals[1].index == 3  # intervals 1 and 2 went unanswered; sampling resumes with the third
    assert result.outcome == "passed", result.reason


def test_an_error_then_a_success_resets_the_consecutive_count():
    def blips(n):
        return Sample("canary", "/api/health", error="timed out") if n == 0 else healthy(n)

    result = analyse(scripted(blips), ["instance-1"], PATHS, FAST)
    assert result.outcome == "passed", result.reason  # one unanswered interval: within error_limit
    assert [i.kind for i in result.intervals[:3]] == [Kind.ERROR, Kind.SUCCESS, Kind.SUCCESS]
    assert result.intervals[0].canary == 1  # after a probe error the interval probes the canary no more


def test_a_canary_that_often_does_not_answer_fails_though_never_twice_in_a_row():
    def every_other_interval(n):
        return Sample("canary", "/api/health", error="timed out") if n % 5 == 0 else healthy(n)

    result = analyse(scripted(every_other_interval), ["instance-1"], PATHS, FAST)
    assert result.outcome == "failed"
    assert [i.kind for i in result.intervals] == [Kind.ERROR, Kind.SUCCESS, Kind.ERROR]
    assert "interval 3 of 10: 2 intervals with canary probe errors in the window (limit 1)" in result.reason


def test_no_baseline_data_is_inconclusive_never_a_pass():
    def gone(_n):
        return Sample("instance-1", "/api/health", error="connection refused")

    result = analyse(scripted(healthy, gone), ["instance-1"], PATHS, FAST)
    assert result.outcome == "inconclusive"
    assert len(result.intervals) == 1
    assert "the baselines gave no data (connection refused)" in result.reason


def test_a_slower_canary_fails_on_the_interim_score():
    def slow(n):
        return Sample("canary", "/api/health", 200, 60.0 + n % 5)

    result = analyse(scripted(slow), ["instance-1"], PATHS, FAST)
    assert result.outcome == "failed"
    assert len(result.intervals) == 1  # min_samples reached in the first interval
    assert "score 50 below marginal 75 against the baseline: latency /api/health: canary p50" in result.reason


def test_a_marginal_score_at_the_end_is_inconclusive():
    policy = FAST.model_copy(update={"score_marginal": 40.0})

    def slow(n):
        return Sample("canary", "/api/health", 200, 60.0 + n % 5)

    result = analyse(scripted(slow), ["instance-1"], PATHS, policy)
    assert result.outcome == "inconclusive"
    assert result.reason.startswith("marginal score 50 (pass 95, marginal 40): latency /api/health:")


class Tracker:
    """Error events as an error tracker counts them, interval after interval (the engine's input, not a mock)."""

    where = "release v2 in Sentry acme/web"

    def __init__(self, counts):
        self.counts, self.asked = list(counts), 0

    def count(self):
        self.asked += 1
        value = self.counts.pop(0)
        if isinstance(value, Exception):
            raise value
        return value


def test_the_releases_error_events_stop_the_analysis_when_over_the_limit():
    lines = []
    tracker = Tracker([0, 0, 3, 5])
    result = analyse(scripted(healthy), ["instance-1"], PATHS, FAST, lines.append, events=tracker)
    assert result.outcome == "failed"
    assert len(result.intervals) == 3
    assert result.reason == (
        "interval 3 of 10: 3 error events of release v2 in Sentry acme/web during the window (limit 0)"
    )
    assert [i.error_events for i in result.intervals] == [0, 0, 3]
    assert lines[2].startswith("canary 3/10 success")
    assert " | 3 error events" in lines[2]
    assert logs_evidence(result, tracker, 0) == (
        "canary logs: release v2 in Sentry acme/web",
        {"error_events": 3},
        {"error_events": "<= 0"},
        False,
    )
    tolerant = analyse(scripted(healthy), ["instance-1"], PATHS, FAST.model_copy(update={"error_events_limit": 9}),
                       events=Tracker([1] * 10))  # fmt: skip
    assert (tolerant.outcome, tolerant.error_events) == ("passed", 1)


def test_an_unreadable_error_tracker_is_asked_once_and_said():
    tracker = Tracker([ProbeError("Sentry API refused SENTRY_AUTH_TOKEN (HTTP 401)")])
    result = analyse(scripted(healthy), ["instance-1"], PATHS, FAST, events=tracker)
    assert result.outcome == "passed"  # the HTTP analysis; the check makes the unread logs an error
    assert tracker.asked == 1
    assert result.events_problem == "Sentry API refused SENTRY_AUTH_TOKEN (HTTP 401)"
    assert logs_evidence(result, tracker, 0)[1] == {
        "error_events": "not measured: Sentry API refused SENTRY_AUTH_TOKEN (HTTP 401)"
    }
    untracked = analyse(scripted(healthy), ["instance-1"], PATHS, FAST)
    assert logs_evidence(untracked, None, 0) == (
        "canary logs",
        {"error_events": f"not verified: {NO_ERROR_TRACKER}"},
        {},
        None,
    )


def test_latency_metric_needs_significance_and_an_effect_above_the_floor():
    base = [10.0, 11.0, 12.0, 10.5, 11.5, 12.5, 10.2, 11.2]
    assert latency_metric("/", [v + 2 for v in base], base, FAST).verdict == "pass"  # shift 2 ms < floor 5 ms
    assert latency_metric("/", [v + 30 for v in base], base, FAST).verdict == "high"
    assert latency_metric("/", base, base, FAST).verdict == "pass"
    assert latency_metric("/", [10.0] * 8, [10.0] * 8, FAST).verdict == "pass"  # identical data
    assert latency_metric("/", base[:3], base, FAST).verdict == "nodata"
    noisy = [10.0, 80.0, 11.0, 12.0, 9.0, 10.5, 11.0, 10.0]
    assert latency_metric("/", noisy, base, FAST).verdict == "pass"  # one outlier is not a shift


def test_error_rate_is_critical_and_guarded_by_a_minimum_sample():
    ok = [Sample("canary", "/", 200, 1.0)] * 10
    bad = [Sample("canary", "/", 500, 1.0)] * 2 + ok[:8]
    base = [Sample("instance-1", "/", 200, 1.0)] * 10
    assert compare(ok, base, ["/"], FAST).score == 100.0
    worse = compare(bad, base, ["/"], FAST)
    assert worse.score == 0.0
    assert "error rate: canary 20.0% of 10 vs baseline 0.0% of 10 (allowed increase 1.0%)" in worse.worst()
    assert compare(ok[:2], base[:2], ["/"], FAST).score is None


def test_classify_orders_error_failure_inconclusive():
    c_ok, b_ok = [Sample("canary", "/", 200, 1.0)], [Sample("instance-1", "/", 200, 1.0)]
    assert classify(c_ok, b_ok) == (Kind.SUCCESS, "")
    assert classify([Sample("canary", "/", error="timed out")], b_ok)[0] is Kind.ERROR
    assert classify([Sample("canary", "/", 500, 1.0, problem="status 500")], b_ok)[0] is Kind.FAILURE
    assert classify(c_ok, [])[0] is Kind.INCONCLUSIVE


class _Health(BaseHTTPRequestHandler):
    version = "v2.0.0"

    def do_GET(self):
        body = json.dumps({"status": "ok", "version": self.version, "commit": "c" * 40}).encode()
        self.send_response(200 if self.path == "/api/health" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def loopback():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_sampler_judges_health_and_the_canary_release(loopback):
    targets = {"canary": loopback, "instance-1": loopback, "dead": f"http://127.0.0.1:{closed_port()}"}
    with httpx.Client(timeout=2.0) as client:
        sample = http_sampler(client, targets, "/api/health", HealthPolicy(), "version", "commit", "v2.0.0", "c" * 40)
        assert sample("canary", "/api/health").problem is None
        wrong = http_sampler(client, targets, "/api/health", HealthPolicy(), "version", "commit", "v2.1.0", None)
        assert wrong("canary", "/api/health").problem == "version 'v2.0.0', expected 'v2.1.0'"
        assert wrong("instance-1", "/api/health").problem is None  # baselines may serve the old release
        assert sample("canary", "/missing").problem == "status 404, expected 2xx"
        started = time.monotonic()
        dead = sample("dead", "/api/health")
        assert dead.error == "connection refused"
        assert time.monotonic() - started < 2.0


def test_progress_lines_of_workers_are_relayed_in_order_while_the_run_goes_on(tmp_path):
    printed = []
    relay = ProgressRelay(tmp_path / "progress.log", printed.append, poll_s=0.01)
    relay.start()
    append_line(relay.path, "canary 1/6 success")
    deadline = time.monotonic() + 5
    while not printed and time.monotonic() < deadline:  # the relay's thread prints it, not stop()
        time.sleep(0.01)
    assert printed == ["canary 1/6 success"]
    with relay.path.open("a") as out:
        out.write("canary 2/6 succ")  # a worker mid-write: not printed half
        out.flush()
        relay.drain()
        assert printed == ["canary 1/6 success"]
        out.write("ess\n")
    append_line(relay.path, "two\nlines")
    relay.stop()
    assert printed == ["canary 1/6 success", "canary 2/6 success", "two lines"]
    assert not relay.path.exists()


NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def decision_file(tmp_path, table):
    path = tmp_path / "v1.4.0.toml"
    path.write_text(table)
    return ReleaseFile.load(tmp_path, "v1.4.0")


def test_a_decision_on_an_inconclusive_analysis_is_held_to_its_rules(tmp_path):
    good = ('[canary]\ndecision = "promote"\nreason = "latency marginal under a cold cache"\n'
            'decided_by = "Rohan Das"\nrole = "on-call-lead"\ndecided_at = 2026-11-26T14:50:00+05:30\n')  # fmt: skip
    review = review_decision(decision_file(tmp_path, good), NOW, DAY)
    assert review.problems == []
    assert review.attested == ["inconclusive canary analysis: Rohan Das (on-call-lead) decided 'promote' at "
                               "2026-11-26T09:20:00+00:00: latency marginal under a cold cache"]  # fmt: skip
    assert review_decision(decision_file(tmp_path, "[release]\ntag = 'v1.4.0'\n"), NOW, DAY) is None
    future = good.replace("2026-11-26T14:50:00+05:30", "2026-11-26T16:00:00+05:30")
    assert review_decision(decision_file(tmp_path, future), NOW, DAY).problems == [
        "v1.4.0.toml [canary].decided_at: 2026-11-26T10:30:00+00:00 is in the future"
    ]
    stale = good.replace("2026-11-26T14:50:00+05:30", "2026-11-24T14:50:00+05:30")
    assert review_decision(decision_file(tmp_path, stale), NOW, DAY).problems == [
        "v1.4.0.toml [canary].decided_at: 48.7 h ago, limit 24 h (stages.canary.decision_max_age_h)"
    ]
    rollback = '[canary]\ndecision = "rollback"\ndecided_at = 2026-11-26T09:00:00\n'
    refused = review_decision(decision_file(tmp_path, rollback), NOW, DAY)
    assert refused.problems == [
        "v1.4.0.toml [canary].decision: 'rollback'; only 'promote' lets the go-live proceed",
        "v1.4.0.toml [canary].reason: missing (what was weighed)",
        "v1.4.0.toml [canary].decided_by: missing (who decided)",
        "v1.4.0.toml [canary].role: missing (in which role)",
        "v1.4.0.toml [canary].decided_at: missing or without a UTC offset",
    ]
    assert refused.attested == []
