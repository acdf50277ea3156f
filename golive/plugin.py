"""golive's pytest plugin: environment selection, checklist wiring, outcomes, and the sign-off artifacts.

Loaded by the root conftest.py. It stays thin: the checklist lives in golive.checklist, configuration in
golive.config, the artifact in golive.report; this module only connects them to pytest's hooks.
"""

from __future__ import annotations

import logging
import os
import re
import secrets as _random
import signal
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
from _pytest.junitxml import xml_key as junit_xml_key  # LogXML: suite name and global properties
from pytest_html import extras as html_extras

from golive.checklist import CHECKLIST_PATH, STAGES, Checklist, ChecklistError, load_checklist
from golive.config import (
    ConfigError,
    Environment,
    Release,
    RunSettings,
    Variables,
    load_environment,
    operator_from,
    release_from,
)
from golive.evidence import observations_from
from golive.outcomes import ATTESTED_PROP, NOT_VERIFIED_PREFIX, UNDECIDED_PROP, Outcome, ProbeError
from golive.release import ReleaseFile
from golive.report import (
    CheckResult,
    ItemResult,
    Stamp,
    Verdict,
    document,
    evidence_html,
    item_results,
    leak_scan,
    signoff_html,
    stamp_properties,
    tick_rows,
    verdict,
    write_json,
    write_manifest,
)
from golive.secrets import REGISTRY
from golive.waivers import WaiverFile, apply_waivers, load_waivers

ITEM_PROP = "golive.item"
OUTCOME_PROP = "golive.outcome"
REASON_PROP = "golive.reason"
SIDE_EFFECT_PROP = "golive.side_effect"
CHECKS_DIR = "checks"
# The plugins writing the HTML and JUnit artifacts, by the option each one adds.
SIGNOFF_PLUGINS = (("html", "htmlpath"), ("junitxml", "xmlpath"))


@dataclass
class RunState:
    """Everything golive knows about the current run; one per pytest process."""

    checklist: Checklist
    env: Environment | None
    variables: Variables | None
    stage: str | None
    run_id: str
    started_at: str
    release: Release
    operator: str
    allow_side_effects: bool
    reports_dir: Path | None = None
    tests: dict[str, CheckResult] = field(default_factory=dict)
    checked_items: set[str] = field(default_factory=set)
    deselected: dict[str, list[str]] = field(default_factory=dict)  # item -> its checks a filter left out
    incomplete: list[str] = field(default_factory=list)  # why the run cannot be trusted to be complete
    drift: list[str] = field(default_factory=list)  # checks that disagree with checklist.toml (a usage error)
    results: list[ItemResult] = field(default_factory=list)
    decision: Verdict | None = None
    stamp: Stamp | None = None
    stage_order: dict[str, str | bool | None] | None = None  # golive.stage_order.Gate.record(), when gated

    @property
    def label(self) -> str:
        return self.stage or "all"

    def require_env(self) -> Environment:
        if self.env is None:
            raise pytest.UsageError("golive: no environment selected: pass --env NAME or set GOLIVE_ENV")
        return self.env


STATE_KEY = pytest.StashKey[RunState]()


def run_state(config: pytest.Config) -> RunState:
    """The run's state, made on first use (pytest-metadata may ask before golive's configure hook runs)."""
    if STATE_KEY not in config.stash:
        config.stash[STATE_KEY] = _new_state(config)
    return config.stash[STATE_KEY]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("golive", "golive go-live checklist")
    group.addoption(
        "--env",
        dest="golive_env",
        default=None,
        metavar="NAME|PATH",
        help="environment: environments/NAME.toml or a path to a TOML file (default: $GOLIVE_ENV)",
    )
    group.addoption(
        "--golive-reports",
        dest="golive_reports",
        default=None,
        metavar="DIR",
        help="where the sign-off artifacts go (default: reports/ beside checklist.toml's project)",
    )
    group.addoption(
        "--allow-side-effects",
        dest="golive_allow_side_effects",
        action="store_true",
        help="let checks marked side_effect write to the target (test events, test alerts)",
    )


def stage_of(markexpr: str) -> str | None:
    """The single go-live stage a -m expression selects ('preflight', 'canary and not slow'), else None."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", markexpr)
    named = [t for i, t in enumerate(tokens) if t in STAGES and (i == 0 or tokens[i - 1] != "not")]
    negated = [t for i, t in enumerate(tokens) if t in STAGES and i > 0 and tokens[i - 1] == "not"]
    return named[0] if len(set(named)) == 1 and not negated and "or" not in tokens else None


def _targets_checks(config: pytest.Config) -> bool:
    """True when the run collects golive's checks (so an environment is required)."""
    checks = (config.rootpath / CHECKS_DIR).resolve()
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == checks or checks in path.parents or path in checks.parents:
            return True
    return False


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _checklist_path(config: pytest.Config) -> Path:
    """The project's checklist.toml (beside checks/), or the one golive ships when the project has none."""
    local = config.rootpath / "checklist.toml"
    return local if local.is_file() else CHECKLIST_PATH


def _new_state(config: pytest.Config) -> RunState:
    settings = RunSettings()
    worker = getattr(config, "workerinput", None)
    env_ref = config.getoption("golive_env") or settings.env
    env: Environment | None = None
    variables: Variables | None = None
    if env_ref or _targets_checks(config):
        if not env_ref:
            known = sorted(p.stem for p in (config.rootpath / "environments").glob("*.toml"))
            raise pytest.UsageError(
                f"golive: no environment selected: pass --env NAME or set GOLIVE_ENV (known: {', '.join(known)})"
            )
        try:
            env = load_environment(env_ref, config.rootpath)
        except ConfigError as exc:
            raise pytest.UsageError(f"golive: {exc}") from None
        variables = Variables.read(env)
        variables.register(REGISTRY)
    checklist_path = _checklist_path(config)
    try:
        checklist = load_checklist(checklist_path)
    except (ChecklistError, OSError, UnicodeDecodeError) as exc:
        raise pytest.UsageError(f"golive: {checklist_path}: {exc}") from None
    return RunState(
        checklist=checklist,
        env=env,
        variables=variables,
        stage=stage_of(config.option.markexpr or ""),
        run_id=(worker or {}).get("golive_run_id") or settings.run_id or _new_run_id(),
        started_at=(worker or {}).get("golive_started_at") or _utc_now(),
        release=release_from(settings, os.environ),
        operator=operator_from(settings, os.environ),
        allow_side_effects=bool(config.getoption("golive_allow_side_effects"))
        or bool(env and env.side_effects.allowed),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    state = run_state(config)
    if state.env is not None and getattr(config.option, "reruns", 0):
        raise pytest.UsageError("golive: checks are never rerun (--reruns): a flaky check is a visible failure")
    if state.env is not None and not hasattr(config, "workerinput") and not config.option.collectonly:
        disabled = [f"-p no:{name}" for name, option in SIGNOFF_PLUGINS if not hasattr(config.option, option)]
        if disabled:
            raise pytest.UsageError(
                f"golive: the sign-off artifacts need pytest's html and junitxml plugins: drop {' and '.join(disabled)}"
            )
        reports = Path(config.getoption("golive_reports") or config.rootpath / "reports")
        reports.mkdir(parents=True, exist_ok=True)
        state.reports_dir = reports
        if not config.option.htmlpath:
            config.option.htmlpath = str(reports / f"{state.label}.html")
        config.option.self_contained_html = True
        if not config.option.xmlpath:
            config.option.xmlpath = str(reports / f"{state.label}.xml")
        for suffix in (".json", ".sha256"):  # an earlier run's go must not outlive this run, however it ends
            (reports / f"{state.label}{suffix}").unlink(missing_ok=True)
        _end_on_sigterm(config)


def _end_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a cancelled CI job; `golive run` passing it on) ends the run as Ctrl-C does: pytest finishes as
    interrupted (exit 2) and writes its no-go artifacts and the leak scan, instead of dying without them."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    config.add_cleanup(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous))


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM would cut the artifacts short
    raise KeyboardInterrupt


def _new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + _random.token_hex(3)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's run id and start time."""
    state = run_state(node.config)
    node.workerinput["golive_run_id"] = state.run_id
    node.workerinput["golive_started_at"] = state.started_at


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """The report's metadata table is an allowlist: never a dump of the environment."""
    state = run_state(config)
    metadata.clear()
    metadata.update(
        {
            "Environment": state.env.name if state.env else "(none)",
            "Stage": state.label,
            "Release": state.release.tag,
            "Commit": state.release.commit,
            "Artifact digest": state.release.digest,
            "Run id": state.run_id,
            "Operator": state.operator,
            "Started": state.started_at,
        }
    )


def _item_marker_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("item")
    return str(marker.args[0]) if marker and marker.args else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every check names one known item and only stages that item belongs to (before -m deselection)."""
    state = run_state(config)
    checks = (config.rootpath / CHECKS_DIR).resolve()
    problems = []
    for item in items:
        if checks not in Path(item.path).resolve().parents:
            continue
        item_id = _item_marker_id(item)
        if item_id is None:
            problems.append(f"{item.nodeid}: no @pytest.mark.item('ID') naming its checklist item")
            continue
        if item_id not in state.checklist.ids():
            problems.append(f"{item.nodeid}: names item {item_id!r}, which checklist.toml does not list")
            continue
        stages = {m.name for m in item.iter_markers() if m.name in STAGES}
        allowed = set(state.checklist.get(item_id).stages)
        if not stages or not stages <= allowed:
            problems.append(
                f"{item.nodeid}: stage markers {sorted(stages)}; item {item_id} belongs to {sorted(allowed)}"
            )
        state.checked_items.add(item_id)
    if not problems:
        return
    state.drift = problems
    if hasattr(config, "workerinput"):
        # xdist: a worker's UsageError surfaces as an INTERNALERROR traceback on the controller, without the
        # reason. The worker runs nothing and hands the problems over; the controller reports them (exit 4).
        items.clear()
        return
    raise pytest.UsageError(_drift_message(problems))


def _drift_message(problems: list[str]) -> str:
    return "golive: checks and checklist disagree:\n  " + "\n  ".join(problems)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Remember the checks of this stage that a filter (-k, --deselect, -m beyond the stage) left out."""
    if not items:
        return
    state = run_state(items[0].config)
    for item in items:
        item_id = _item_marker_id(item)
        stages = {m.name for m in item.iter_markers() if m.name in STAGES}
        if item_id is not None and (state.stage is None or state.stage in stages):
            state.deselected.setdefault(item_id, []).append(item.nodeid)


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("side_effect")
    if marker is None:
        return
    state = run_state(item.config)
    what = marker.args[0] if marker.args else "writes to the target"
    if not state.allow_side_effects:
        env_name = state.env.name if state.env else "this environment"
        pytest.skip(
            f"{NOT_VERIFIED_PREFIX}side effect not allowed in {env_name} ({what}); "
            "set side_effects.allowed = true in the environment file or pass --allow-side-effects"
        )


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[Outcome, str] | None:
    if report.passed:
        if report.when != "call":
            return None
        attested = [str(v) for k, v in report.user_properties if k == ATTESTED_PROP]
        return (Outcome.ATTESTED, "attested: " + "; ".join(attested)) if attested else (Outcome.PASSED, "")
    if report.skipped:
        message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        message = message.removeprefix("Skipped: ").removeprefix(NOT_VERIFIED_PREFIX)
        return Outcome.NOT_VERIFIED, message
    excinfo = call.excinfo
    if excinfo is None:
        return Outcome.ERROR, "failed without an exception"
    if isinstance(excinfo.value, ProbeError):
        return Outcome.ERROR, str(excinfo.value)
    first_line = (str(excinfo.value).strip().splitlines() or [excinfo.typename])[0]
    if isinstance(excinfo.value, AssertionError) and report.when == "call":
        return Outcome.FAILED, first_line
    return Outcome.ERROR, f"{excinfo.typename}: {first_line}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    _scrub_report(report)
    item_id = _item_marker_id(item)
    if item_id is None:
        return report
    classified = _classify(report, call)
    if classified is not None:
        outcome, reason = classified
        reason = REGISTRY.scrub(reason)
        if outcome is Outcome.ERROR and call.excinfo is not None and isinstance(call.excinfo.value, ProbeError):
            report.longrepr = f"{outcome.value}: {reason}"
        report.user_properties += [(ITEM_PROP, item_id), (OUTCOME_PROP, outcome.value), (REASON_PROP, reason)]
        marker = item.get_closest_marker("side_effect")
        if marker and marker.args:
            report.user_properties.append((SIDE_EFFECT_PROP, str(marker.args[0])))
        observations = observations_from(report.user_properties)
        if observations:
            report.extras = [
                html_extras.json([o.__dict__ for o in observations], name="evidence"),
            ]
    return report


def _scrub_report(report: pytest.TestReport) -> None:
    """Last line of defence: no registered secret survives in failure text or captured output."""
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, REGISTRY.scrub(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        scrubbed = REGISTRY.scrub(text)
        if scrubbed != text:
            report.longrepr = scrubbed
    report.sections = [(name, REGISTRY.scrub(content)) for name, content in report.sections]
    report.user_properties = [
        (key, REGISTRY.scrub(value) if isinstance(value, str) else value) for key, value in report.user_properties
    ]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG.get("config")
    if config is None:
        return
    state = run_state(config)
    props = dict(report.user_properties)
    item_id = props.get(ITEM_PROP)
    if not isinstance(item_id, str) or OUTCOME_PROP not in props:
        if report.failed and report.nodeid.startswith(f"{CHECKS_DIR}/"):
            state.incomplete.append(f"{report.nodeid} ended without a result ({report.when}): the check crashed")
        elif report.failed:  # pytest counts it: the run cannot be a go while its exit status says tests failed
            state.incomplete.append(f"{report.nodeid} failed ({report.when}) without proving a checklist item")
        return
    outcome = Outcome(str(props[OUTCOME_PROP]))
    previous = state.tests.get(report.nodeid)
    if previous is not None and report.when == "teardown" and outcome is not Outcome.ERROR:
        return
    state.tests[report.nodeid] = CheckResult(
        nodeid=report.nodeid,
        item_id=item_id,
        outcome=outcome,
        reason=str(props.get(REASON_PROP, "")),
        duration_s=report.duration + (previous.duration_s if previous else 0.0),
        evidence=observations_from(report.user_properties),
        side_effect=str(props[SIDE_EFFECT_PROP]) if SIDE_EFFECT_PROP in props else None,
        undecided=bool(props.get(UNDECIDED_PROP, False)),
    )


# pytest_runtest_logreport has no config argument; the controller's config is kept here at session start.
_CONFIG: dict[str, pytest.Config] = {}


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that could not be collected (a check that does not import, also with
    --continue-on-collection-errors; under xdist the controller hears of it too) left its items unmeasured."""
    config = _CONFIG.get("config")
    if config is None or not report.failed:
        return
    where = report.nodeid or "the checks"
    run_state(config).incomplete.append(f"{where} could not be collected: {_error_line(report.longrepr)}")


def _error_line(longrepr: object) -> str:
    """The line of a failure's text that says what went wrong: pytest's last 'E   ' line, else its last line."""
    lines = [line for line in str(longrepr).splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return REGISTRY.scrub((errors or lines or ["no detail"])[-1].strip())


_TRACEBACKS = logging.Formatter()  # formats a record's exception as handlers' formatters do by default


class _ScrubLogs(logging.Filter):
    """Scrubs every log record before any handler (live log, log file, captured log) formats it: the message, the
    exception's traceback (log.exception) and the stack (stack_info=True)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = REGISTRY.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        record.exc_info = None  # formatters print exc_text as it is, and would format exc_info again, unscrubbed
        if record.exc_text:
            record.exc_text = REGISTRY.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = REGISTRY.scrub(record.stack_info)
        return True


def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config
    logs = session.config.pluginmanager.get_plugin("logging-plugin")
    if logs is not None:
        for name in ("log_cli_handler", "log_file_handler", "caplog_handler", "report_handler"):
            handler = getattr(logs, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(_ScrubLogs())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: merge what each worker found; a worker that died sent nothing, and the run is incomplete."""
    state = run_state(node.config)
    output = getattr(node, "workeroutput", None)
    if output is None:
        state.incomplete.append(f"xdist worker {node.gateway.id} died: its checks' results may be lost")
        return
    state.checked_items.update(output.get("golive_checked_items", []))
    state.drift.extend(p for p in output.get("golive_drift", []) if p not in state.drift)
    for item_id, nodeids in output.get("golive_deselected", {}).items():
        known = state.deselected.setdefault(item_id, [])  # every worker deselects the same checks
        known.extend(nodeid for nodeid in nodeids if nodeid not in known)


@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    config = session.config
    state = run_state(config)
    worker = getattr(config, "workeroutput", None)
    if worker is not None:
        worker["golive_checked_items"] = sorted(state.checked_items)
        worker["golive_deselected"] = state.deselected
        worker["golive_drift"] = state.drift
    if state.env is None or worker is not None or state.reports_dir is None:
        return (yield)
    env = state.env
    from_workers = bool(state.drift) and session.exitstatus != pytest.ExitCode.USAGE_ERROR
    if state.drift:
        state.incomplete.append(f"checks and checklist disagree ({len(state.drift)} problem(s)): {state.drift[0]}")
    results = item_results(
        state.checklist, state.stage, list(state.tests.values()), frozenset(state.checked_items), state.deselected
    )
    waivers = _waivers(state, env, config.rootpath)
    state.results = apply_waivers(results, waivers)
    state.incomplete.extend(waivers.unattached())
    if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        code = pytest.ExitCode(session.exitstatus)
        state.incomplete.append(f"pytest ended with exit code {int(code)} ({code.name.lower().replace('_', ' ')})")
    state.decision = verdict(state.results, env.is_strict, tuple(dict.fromkeys(state.incomplete)))
    state.stamp = Stamp(
        stage=state.label,
        environment=env.name,
        tier=env.tier,
        strict=env.is_strict,
        release=state.release,
        run_id=state.run_id,
        operator=state.operator,
        started_at=state.started_at,
        finished_at=_utc_now(),
        stage_order=state.stage_order,
    )
    _stamp_junit(config, state.stamp, state.decision)
    result = yield
    _write_artifacts(session, state)
    if from_workers:  # what pytest prints for the UsageError of a run without workers
        sys.stderr.write(f"ERROR: {_drift_message(state.drift)}\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    return result


def _stamp_junit(config: pytest.Config, stamp: Stamp, decision: Verdict) -> None:
    """Name the JUnit suite after the stage and environment and stamp it (junitxml writes it after this hook)."""
    xml = config.stash.get(junit_xml_key, None)
    if xml is None:
        return
    xml.suite_name = f"golive-{stamp.stage}-{stamp.environment}"
    for name, value in stamp_properties(stamp, decision):
        xml.add_global_property(name, value)


def _waivers(state: RunState, env: Environment, root: Path) -> WaiverFile:
    directory = env.release.dir if env.release.dir.is_absolute() else root / env.release.dir
    owners = ReleaseFile.load(directory, state.release.tag).section("owners")
    return load_waivers(
        directory / f"{state.release.tag}.waivers.toml",
        {str(k): str(v) for k, v in owners.items()} if isinstance(owners, dict) else {},
        {item.id: item.owner for item in state.checklist.items},
        datetime.now(UTC).date(),
    )


def _write_artifacts(session: pytest.Session, state: RunState) -> None:
    assert state.reports_dir is not None
    assert state.stamp is not None
    assert state.decision is not None
    config = session.config
    # the paths as pytest and pytest-html expand them ($VAR, ~)
    artifacts = [
        Path(os.path.expanduser(os.path.expandvars(p))) for p in (config.option.htmlpath, config.option.xmlpath)
    ]
    missing = [str(p) for p in artifacts if not p.exists()]
    if missing:  # an artifact the leak scan cannot see: the sign-off cannot stand, and the JSON must say so too
        unseen = tuple(f"artifact {m} was not written" for m in missing)
        state.decision = replace(state.decision, go=False, incomplete=(*state.decision.incomplete, *unseen))
    ticks = tick_rows(state.checklist, state.results)
    json_path = state.reports_dir / f"{state.label}.json"
    write_json(document(state.stamp, state.results, state.decision, ticks), json_path, REGISTRY)
    artifacts.append(json_path)
    manifest = state.reports_dir / f"{state.label}.sha256"
    write_manifest([p for p in artifacts if p.exists()], manifest)
    leaks = leak_scan(REGISTRY, [*artifacts, manifest])
    tr = config.pluginmanager.get_plugin("terminalreporter")
    lines = _closing_lines(state, leaks, [*artifacts, manifest])
    if tr is not None:
        for line in lines:
            tr.write_line(line)
    if leaks or not state.decision.go:
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif session.exitstatus == pytest.ExitCode.TESTS_FAILED:
        # a go with failures pytest counted: each was a check whose item a valid waiver cleared (any other failure,
        # or another exit status, makes the run incomplete), so the exit status says go as the artifacts do
        session.exitstatus = pytest.ExitCode.OK


def _closing_lines(state: RunState, leaks: list[Any], artifacts: list[Path]) -> list[str]:
    assert state.decision is not None
    assert state.env is not None
    lines = [""]
    for r in state.results:
        if not r.outcome.clears:
            lines.append(f"  {r.item.id:<8} {r.outcome.value:<12} {r.reason}")
    lines += [f"golive: incomplete run: {reason}" for reason in state.decision.incomplete]
    if leaks:
        lines.append("golive: SECRET LEAK: the artifacts were removed:")
        lines += [f"  {leak}" for leak in leaks]
    else:
        lines.append("golive: artifacts: " + ", ".join(str(p) for p in artifacts if p.exists()))
    strict = "strict" if state.env.is_strict else "not strict"
    blocking = ", ".join(r.item.id for r in state.decision.blocking) or "none"
    lines.append(
        f"golive {state.label} on {state.env.name} ({strict}), release {state.release.tag}: "
        f"{state.decision.label}" + ("" if state.decision.go else f" (blocking: {blocking})")
    )
    return lines


# pytest-html's hooks: unknown to pytest with -p no:html, which golive refuses only when it would write a sign-off.
_html_hook = pytest.hookimpl(optionalhook=True)


@_html_hook
def pytest_html_report_title(report: Any) -> None:
    state = run_state(_CONFIG["config"])
    env = state.env.name if state.env else "(no environment)"
    report.title = f"golive {state.label}: {state.release.tag} on {env}"


@_html_hook
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(1, '<th class="sortable" data-column-type="item">Item</th>')
    cells.insert(2, '<th data-column-type="title">Title</th>')
    cells.insert(3, '<th class="sortable" data-column-type="owner">Owner</th>')
    cells.insert(4, '<th class="sortable" data-column-type="stages">Stages</th>')
    cells.insert(5, '<th class="sortable" data-column-type="outcome">golive outcome</th>')


@_html_hook
def pytest_html_results_table_row(report: Any, cells: list[str]) -> None:
    props = dict(getattr(report, "user_properties", []) or [])
    item_id = props.get(ITEM_PROP)
    state = run_state(_CONFIG["config"])
    if isinstance(item_id, str) and item_id in state.checklist.ids():
        item = state.checklist.get(item_id)
        values = [item.id, item.title, item.owner, ", ".join(item.stages), str(props.get(OUTCOME_PROP, ""))]
    else:
        values = [""] * 5
    for offset, (name, value) in enumerate(zip(("item", "title", "owner", "stages", "outcome"), values, strict=True)):
        cells.insert(1 + offset, f'<td class="col-{name}">{escape(value)}</td>')


@_html_hook
def pytest_html_results_table_html(report: Any, data: list[str]) -> None:
    observations = observations_from(list(getattr(report, "user_properties", []) or []))
    if observations:
        rows = "".join(f"<li>{evidence_html(o)}</li>" for o in observations)
        data.insert(0, f'<div class="golive-evidence"><strong>Evidence</strong><ul>{rows}</ul></div>')


@_html_hook
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str], session: Any) -> None:
    state = run_state(session.config)
    if state.stamp is None or state.decision is None:
        return
    ticks = tick_rows(state.checklist, state.results)
    prefix.append(REGISTRY.scrub(signoff_html(state.stamp, state.results, state.decision, ticks)))
