"""CAN-01: canary analysis. The canary and the baseline instances are sampled side by side, interval after
interval, over the observation window; the analysis stops as soon as a limit is crossed.

Semantics follow Argo Rollouts' analysis runs and Kayenta's judge (research notes, part C):

- Each interval is one measurement of the canary: *success*; *failure* (it answered but breached an objective:
  non-2xx, unhealthy body, latency over budget, wrong version); *error* (the probe failed: connect error,
  timeout); *inconclusive* (the baselines gave no data to compare with).
- Limits: failures > ``failure_limit`` (total), consecutive errors > ``consecutive_error_limit``, inconclusive
  intervals > ``inconclusive_limit`` end the analysis at once (a broken canary shows within two intervals).
- Canary against baseline, on every sample so far: the error rate (non-2xx share) with a minimum-sample guard,
  and per path the latency distributions with a one-sided Mann-Whitney U test plus an effect-size floor on the
  Hodges-Lehmann shift. The error rate is critical (its failure makes the score 0). Score = passing metrics
  over metrics with data x 100; an interim score below ``score_marginal`` ends the analysis (Kayenta's fail
  fast); at the end of the window, a score of at least ``score_pass`` passes, a marginal score is inconclusive.
- Logs: when an error tracker is configured, the release's new error events are counted after every interval;
  more than ``error_events_limit`` end the analysis at once (an app that swallows its errors still answers 200).
- Inconclusive is never a pass: the check reports it as *not verified* ("inconclusive: ..."), which blocks the
  go-live in every tier until a person attests or waives it.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import httpx

from golive.config import CanaryPolicy, HealthPolicy
from golive.evidence import Evidence
from golive.outcomes import ProbeError, inconclusive, record_attestation
from golive.probes.http import get, judge_health
from golive.probes.rollout import release_problems
from golive.release import ReleaseFile, Review


class Kind(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Sample:
    """One request to one target: what came back, or why nothing did."""

    target: str
    path: str
    status: int | None = None
    latency_ms: float | None = None
    problem: str | None = None  # an objective the answer breached (a failure)
    error: str | None = None  # the probe itself failed
    at_s: float = 0.0  # seconds since the analysis began
    url: str = ""

    @property
    def answered(self) -> bool:
        return self.error is None

    @property
    def non_2xx(self) -> bool:
        return self.status is None or not 200 <= self.status < 300

    COLUMNS = ("at_s", "target", "path", "status", "latency_ms", "problem")

    def row(self) -> list[str | int | float | None]:
        return [round(self.at_s, 3), self.target, self.path, self.status, self.latency_ms, self.problem or self.error]


Sampler = Callable[[str, str], Sample]  # (target, path) -> one sample


@dataclass(frozen=True)
class Metric:
    """One canary-versus-baseline comparison: pass, high (the canary is worse), or nodata."""

    name: str
    verdict: str
    detail: str
    critical: bool = False


@dataclass(frozen=True)
class Comparison:
    metrics: tuple[Metric, ...]

    @property
    def score(self) -> float | None:
        judged = [m for m in self.metrics if m.verdict != "nodata"]
        if not judged:
            return None
        if any(m.critical and m.verdict == "high" for m in judged):
            return 0.0
        return round(100.0 * sum(m.verdict == "pass" for m in judged) / len(judged), 1)

    def worst(self) -> str:
        high = [m for m in self.metrics if m.verdict == "high"]
        return "; ".join(f"{m.name}: {m.detail}" for m in (high or self.metrics))


@dataclass(frozen=True)
class Interval:
    index: int
    kind: Kind
    reason: str
    canary: int
    baseline: int
    score: float | None
    error_events: int | None = None  # the release's error events in the error tracker so far

    COLUMNS = ("index", "kind", "reason", "score", "error_events")

    def row(self) -> list[str | int | float | None]:
        return [self.index, self.kind.value, self.reason, self.score, self.error_events]


class ErrorEvents(Protocol):
    """The canary's logs: the release's error events in the error tracker since the analysis began."""

    where: str  # what is counted where, for messages: "release v1.4.0 in Sentry org/project"

    def count(self) -> int:
        """The count so far; ProbeError when the tracker cannot be read."""
        ...


@dataclass
class Analysis:
    """The analysis' result: passed, failed or inconclusive, with the reason, the intervals and every sample."""

    outcome: str = "passed"
    reason: str = ""
    intervals: list[Interval] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    comparison: Comparison | None = None
    elapsed_s: float = 0.0
    planned_intervals: int = 0
    error_events: int | None = None  # the release's error events in the window (None: not counted)
    events_problem: str | None = None  # why they could not be counted

    METRIC_COLUMNS = ("metric", "verdict", "detail")

    def metric_rows(self) -> list[list[str]]:
        """The last comparison with the baselines: each metric, its verdict and what was measured."""
        metrics = self.comparison.metrics if self.comparison else ()
        return [[m.name, m.verdict, m.detail] for m in metrics]


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def error_rate_metric(canary: Sequence[Sample], baseline: Sequence[Sample], policy: CanaryPolicy) -> Metric:
    c = [s for s in canary if s.answered]
    b = [s for s in baseline if s.answered]
    if len(c) < policy.min_samples or len(b) < policy.min_samples:
        return Metric("error rate", "nodata", f"{len(c)} canary / {len(b)} baseline answers, "
                      f"need {policy.min_samples} each", critical=True)  # fmt: skip
    c_rate = sum(s.non_2xx for s in c) / len(c)
    b_rate = sum(s.non_2xx for s in b) / len(b)
    verdict = "high" if c_rate - b_rate > policy.max_error_rate_increase else "pass"
    detail = (f"canary {c_rate:.1%} of {len(c)} vs baseline {b_rate:.1%} of {len(b)} "
              f"(allowed increase {policy.max_error_rate_increase:.1%})")  # fmt: skip
    return Metric("error rate", verdict, detail, critical=True)


def latency_metric(path: str, canary: Sequence[float], baseline: Sequence[float], policy: CanaryPolicy) -> Metric:
    """Kayenta-style: one-sided Mann-Whitney U (the canary slower) and a Hodges-Lehmann shift above the floor."""
    name = f"latency {path}"
    if len(canary) < policy.min_samples or len(baseline) < policy.min_samples:
        return Metric(name, "nodata", f"{len(canary)} canary / {len(baseline)} baseline samples, "
                      f"need {policy.min_samples} each")  # fmt: skip
    shift = statistics.median(c - b for c in canary for b in baseline)
    floor = max(policy.latency_floor_ms, policy.latency_floor_ratio * statistics.median(baseline))
    if len(set(canary) | set(baseline)) == 1:
        p_value = 1.0
    else:
        # scipy.stats costs about a second to import: only the canary stage, which compares latencies, pays it.
        from scipy.stats import mannwhitneyu

        p_value = float(mannwhitneyu(canary, baseline, alternative="greater").pvalue)
    high = p_value < 1 - policy.latency_confidence and shift > floor
    detail = (f"canary p50 {statistics.median(canary):.1f} ms p95 {_pct(canary, 0.95):.1f} ms vs baseline "
              f"p50 {statistics.median(baseline):.1f} ms p95 {_pct(baseline, 0.95):.1f} ms "
              f"(shift {shift:+.1f} ms, floor {floor:.1f} ms, p={p_value:.4f}, "
              f"alpha {1 - policy.latency_confidence:.2f})")  # fmt: skip
    return Metric(name, "high" if high else "pass", detail)


def compare(
    canary: Sequence[Sample], baseline: Sequence[Sample], paths: Sequence[str], policy: CanaryPolicy
) -> Comparison:
    metrics = [error_rate_metric(canary, baseline, policy)]
    for path in paths:
        c = [s.latency_ms for s in canary if s.path == path and s.latency_ms is not None and not s.non_2xx]
        b = [s.latency_ms for s in baseline if s.path == path and s.latency_ms is not None and not s.non_2xx]
        metrics.append(latency_metric(path, c, b, policy))
    return Comparison(tuple(metrics))


def classify(canary: Sequence[Sample], baseline: Sequence[Sample]) -> tuple[Kind, str]:
    """One interval's measurement of the canary, with its reason."""
    errors = [s for s in canary if s.error]
    if errors:
        return (
            Kind.ERROR,
            f"{len(errors)} of {len(canary)} canary probes failed: "
            f"GET {errors[0].url or errors[0].path}: {errors[0].error}",
        )
    failures = [s for s in canary if s.problem]
    if failures:
        first = failures[0]
        return (
            Kind.FAILURE,
            f"{len(failures)} of {len(canary)} canary answers failed: GET {first.url or first.path}: {first.problem}",
        )
    if not any(s.answered for s in baseline):
        first_error = next((s.error for s in baseline if s.error), "no baseline instance configured")
        return Kind.INCONCLUSIVE, f"the baselines gave no data ({first_error})"
    return Kind.SUCCESS, ""


def progress_line(analysis: Analysis, interval: Interval, canary: Sequence[Sample], baseline: Sequence[Sample]) -> str:
    """One live line per interval: counts, error rate and p95 against the baselines, the score so far."""

    def stats(samples: Sequence[Sample]) -> str:
        answered = [s for s in samples if s.answered]
        rate = sum(s.non_2xx for s in answered) / len(answered) if answered else 0.0
        lat = [s.latency_ms for s in answered if s.latency_ms is not None]
        return f"{len(samples)} req, {rate:.1%} errors, p95 {_pct(lat, 0.95):.1f} ms" if lat else f"{len(samples)} req"

    score = "-" if interval.score is None else f"{interval.score:.0f}"
    events = "" if interval.error_events is None else f" | {interval.error_events} error events"
    return (f"canary {interval.index}/{analysis.planned_intervals} {interval.kind.value:<12} "
            f"canary {stats(canary)} | baseline {stats(baseline)} | score {score}{events}"
            + (f" | {interval.reason}" if interval.reason else ""))  # fmt: skip


def analyse(
    sample: Sampler,
    baselines: Sequence[str],
    paths: Sequence[str],
    policy: CanaryPolicy,
    progress: Callable[[str], None] = lambda _line: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    events: ErrorEvents | None = None,
) -> Analysis:
    """Run the analysis: initial delay, then one round of samples per interval until the window ends or a limit
    is crossed. ``sample(target, path)`` probes "canary" or a baseline's name; ``events``, when given, counts the
    release's error events after each interval (a tracker that cannot be read is asked no more, and says why)."""
    planned = max(1, round(policy.window_s / policy.interval_s))
    analysis = Analysis(planned_intervals=planned)
    began = clock()
    sleep(policy.initial_delay_s)
    failures = errors = consecutive_errors = inconclusive = 0
    canary_all: list[Sample] = []
    baseline_all: list[Sample] = []
    index = 0
    while index < planned:
        index += 1
        started = clock()
        canary: list[Sample] = []
        baseline: list[Sample] = []
        unanswered_s = 0.0  # how long the canary kept its failed probe waiting
        for path in paths:
            for _ in range(policy.requests_per_interval):
                for target in ("canary", *baselines):
                    if target == "canary" and any(s.error for s in canary):
                        continue  # one probe error makes the interval an error: don't wait out more timeouts
                    asked = clock()
                    taken = replace(sample(target, path), at_s=round(asked - began, 3))  # when the request began
                    (canary if target == "canary" else baseline).append(taken)
                    if target == "canary" and taken.error:
                        unanswered_s = clock() - asked
        canary_all += canary
        baseline_all += baseline
        analysis.samples += canary + baseline
        kind, reason = classify(canary, baseline)
        # A canary that keeps its probe waiting past the interval has left every interval it spanned unanswered
        # (a probe timeout longer than the interval): each counts, so a silent canary is stopped within the
        # limits' intervals plus one probe timeout, not after limit + 1 timeouts.
        spanned = 1
        if kind is Kind.ERROR:
            spanned = max(1, min(planned - index + 1, int(unanswered_s / policy.interval_s + 1e-9)))
            if spanned > 1:
                reason = f"{reason} (no answer for {unanswered_s:.1f} s: intervals {index} to {index + spanned - 1})"
        comparison = compare(canary_all, baseline_all, paths, policy)
        analysis.comparison = comparison
        if events is not None and analysis.events_problem is None:
            try:
                analysis.error_events = events.count()
            except ProbeError as exc:
                analysis.events_problem = str(exc)
        interval = Interval(index, kind, reason, len(canary), len(baseline), comparison.score, analysis.error_events)
        analysis.intervals.append(interval)
        progress(progress_line(analysis, interval, canary, baseline))
        failures += kind is Kind.FAILURE
        errors += spanned if kind is Kind.ERROR else 0
        inconclusive += kind is Kind.INCONCLUSIVE
        consecutive_errors = consecutive_errors + spanned if kind is Kind.ERROR else 0
        stop = None
        if failures > policy.failure_limit:
            stop = ("failed", f"{failures} failed interval(s) (failure limit {policy.failure_limit}): {reason}")
        elif consecutive_errors > policy.consecutive_error_limit:
            stop = ("failed", f"{consecutive_errors} consecutive intervals with probe errors "
                    f"(limit {policy.consecutive_error_limit}): {reason}")  # fmt: skip
        elif errors > policy.error_limit:  # a canary that times out every other interval is not healthy either
            stop = ("failed", f"{errors} intervals with canary probe errors in the window "
                    f"(limit {policy.error_limit}): {reason}")  # fmt: skip
        elif events is not None and (analysis.error_events or 0) > policy.error_events_limit:
            stop = ("failed", f"{analysis.error_events} error events of {events.where} during the window "
                    f"(limit {policy.error_events_limit})")  # fmt: skip
        elif inconclusive > policy.inconclusive_limit:
            stop = ("inconclusive", f"{inconclusive} inconclusive interval(s) (limit {policy.inconclusive_limit}): "
                    f"{reason}")  # fmt: skip
        elif comparison.score is not None and comparison.score < policy.score_marginal:
            stop = ("failed", f"score {comparison.score:.0f} below marginal {policy.score_marginal:.0f} against "
                    f"the baseline: {comparison.worst()}")  # fmt: skip
        index += spanned - 1
        if stop is not None:
            analysis.outcome, analysis.reason = stop
            analysis.reason = f"interval {index} of {planned}: {analysis.reason}"
            break
        if index < planned:
            sleep(max(0.0, started + spanned * policy.interval_s - clock()))
    else:
        score = analysis.comparison.score if analysis.comparison else None
        if score is None:
            analysis.outcome = "inconclusive"
            analysis.reason = (
                f"no data to compare with the baseline: {analysis.comparison.worst() if analysis.comparison else ''}"
            )
        elif score >= policy.score_pass:
            analysis.outcome, analysis.reason = "passed", f"score {score:.0f} (pass {policy.score_pass:.0f})"
        else:  # marginal: an interim score below score_marginal has already stopped the analysis
            analysis.outcome = "inconclusive"
            analysis.reason = (f"marginal score {score:.0f} (pass {policy.score_pass:.0f}, marginal "
                               f"{policy.score_marginal:.0f}): {analysis.comparison.worst()}")  # fmt: skip
    analysis.elapsed_s = round(clock() - began, 3)
    return analysis


NO_ERROR_TRACKER = "SENTRY_AUTH_TOKEN, sentry.org and sentry.project are not all set"
PROMOTE = "promote"  # the one decision on an inconclusive analysis that lets the go-live proceed
FUTURE_SLACK = timedelta(minutes=5)  # clocks of people's machines differ a little


def review_decision(release: ReleaseFile, now: datetime, max_age: timedelta) -> Review | None:
    """A person's decision on an inconclusive analysis, the release file's ``[canary]`` table (decision, reason,
    decided_by, role, decided_at), held to its rules: promote, a reason, a named person and role, decided in the
    last ``max_age`` and not in the future. None when the release file has no such table."""
    table = release.section("canary")
    if not isinstance(table, dict):
        return None
    where = f"{release.path.name} [canary]"
    review = Review(subject=f"{where} decision on the inconclusive analysis")
    decision, reason = table.get("decision"), table.get("reason")
    by, role, at = (
        release.text("canary", "decided_by"),
        release.text("canary", "role"),
        release.when("canary", "decided_at"),
    )
    review.need(decision == PROMOTE, f"{where}.decision: {decision!r}; only {PROMOTE!r} lets the go-live proceed")
    review.need(isinstance(reason, str) and bool(reason.strip()), f"{where}.reason: missing (what was weighed)")
    review.need(by is not None and bool(by.strip()), f"{where}.decided_by: missing (who decided)")
    review.need(role is not None and bool(role.strip()), f"{where}.role: missing (in which role)")
    if review.need(at is not None, f"{where}.decided_at: missing or without a UTC offset"):
        assert at is not None
        if review.need(at <= now + FUTURE_SLACK, f"{where}.decided_at: {at.isoformat()} is in the future"):
            age_h = (now - at).total_seconds() / 3600
            review.need(now - at <= max_age, f"{where}.decided_at: {age_h:.1f} h ago, limit "
                        f"{max_age.total_seconds() / 3600:g} h (stages.canary.decision_max_age_h)")  # fmt: skip
    review.measured = {"decision": decision, "reason": reason, "decided_by": by, "role": role,
                       "decided_at": at.isoformat() if at else None}  # fmt: skip
    if not review.problems and at is not None:
        review.attested.append(f"inconclusive canary analysis: {by} ({role}) decided {decision!r} at "
                               f"{at.isoformat()}: {reason}")  # fmt: skip
    return review


def logs_evidence(
    analysis: Analysis, events: ErrorEvents | None, limit: int
) -> tuple[str, dict[str, int | str | None], dict[str, str], bool | None]:
    """The evidence of the logs part: the release's error events counted (or why not), against the limit."""
    if events is None:
        return "canary logs", {"error_events": f"not verified: {NO_ERROR_TRACKER}"}, {}, None
    if analysis.events_problem is not None:
        return f"canary logs: {events.where}", {"error_events": f"not measured: {analysis.events_problem}"}, {}, False
    count = analysis.error_events
    return (
        f"canary logs: {events.where}",
        {"error_events": count},
        {"error_events": f"<= {limit}"},
        (count or 0) <= limit,
    )


def decide_inconclusive(
    analysis: Analysis,
    decision: Review | None,
    release_name: str,
    evidence: Evidence,
    user_properties: list[tuple[str, object]],
) -> None:
    """An inconclusive analysis is attested by a person's valid decision (recorded as evidence); without one, or
    with a refused one, CAN-01 ends *inconclusive*, which blocks the go-live in every tier."""
    if decision is None:
        inconclusive(user_properties, f"{analysis.reason} (a person must decide: a [canary] decision in "
                     f"{release_name}, or a waiver of CAN-01)")  # fmt: skip
    evidence.record(decision.subject, decision.measured, ok=not decision.problems)
    if decision.problems:
        inconclusive(user_properties, f"{analysis.reason}; the decision is refused: {decision.explain()}")
    record_attestation(user_properties, decision.attested)


def http_sampler(
    client: httpx.Client,
    targets: dict[str, str],
    health_path: str,
    health: HealthPolicy,
    version_field: str,
    commit_field: str,
    tag: str,
    commit: str | None,
) -> Sampler:
    """Sample over HTTPS: the health path is judged by the health policy (and, for the canary, the release it
    serves); other paths must answer 2xx within the latency budget."""

    def sample(target: str, path: str) -> Sample:
        url = targets[target].rstrip("/") + path
        try:
            answer = get(client, url)
        except ProbeError as exc:
            return Sample(target, path, error=str(exc).removeprefix(f"GET {url}: "), url=url)
        problems: list[str] = []
        if path == health_path:
            problems += judge_health(
                answer, health.expect_status, health.expect_body, health.latency_budget_ms
            ).problems
            if target == "canary":
                problems += release_problems(answer.json_body(), version_field, commit_field, tag, commit)[2]
        else:
            if not 200 <= answer.status < 300:
                problems.append(f"status {answer.status}, expected 2xx")
            if answer.latency_ms > health.latency_budget_ms:
                problems.append(f"latency {answer.latency_ms:.0f} ms, budget {health.latency_budget_ms} ms")
        return Sample(target, path, answer.status, answer.latency_ms, "; ".join(problems) or None, url=url)

    return sample
