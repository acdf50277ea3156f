"""The golive command: demo, sandbox up|down|status|faults, run STAGE.

``golive run`` is a thin wrapper over ``pytest -m STAGE --env NAME``; plain pytest works exactly as well.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from golive.checklist import STAGES


def project_root(start: Path) -> Path:
    """The golive project a command works on: the nearest directory from ``start`` up that holds checklist.toml
    and checks/, else the checkout golive itself runs from (an editable install)."""
    for directory in (start, *start.parents):
        if (directory / "checklist.toml").is_file() and (directory / "checks").is_dir():
            return directory
    return Path(__file__).resolve().parent.parent


ROOT = project_root(Path.cwd().resolve())
SANDBOX_DIR = ROOT / ".golive" / "sandbox"
USAGE_ERROR = 4
ARTIFACT_SUFFIXES = (".html", ".xml", ".json", ".sha256")


def pytest_command(stage: str, env: str, reports: Path | None, extra: Sequence[str]) -> list[str]:
    """The pytest invocation for one stage. Options take their value with '=' so that a path given to
    --env is never mistaken for a test path when pytest picks its root directory."""
    command = [sys.executable, "-m", "pytest", "-m", stage, f"--env={env}", "-p", "no:cacheprovider"]
    if reports is not None:
        command.append(f"--golive-reports={reports}")
    return [*command, *extra]


def run_stage(stage: str, env: str, reports: Path | None, extra: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run one stage's pytest and return its exit code. An interrupt lets pytest finish as interrupted (exit 2,
    its no-go artifacts and the leak scan written) instead of killing it: Ctrl-C reaches pytest from the terminal
    (this process only notes it), SIGTERM is passed on to it (golive's plugin ends the run as for Ctrl-C)."""
    child: subprocess.Popen[bytes] | None = None

    def interrupted(signum: int, frame: object) -> None:
        _INTERRUPTED.set()
        if signum == signal.SIGTERM and child is not None:
            child.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(pytest_command(stage, env, reports, extra), cwd=ROOT, env=dict(environ))
        if _INTERRUPTED.is_set():  # interrupted before the child was there to hear of it
            child.send_signal(signal.SIGTERM)
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stage_verdict(reports: Path, stage: str) -> str:
    path = reports / f"{stage}.json"
    if not path.exists():
        return "no report (see the output above)"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        verdict, blocking = str(doc["verdict"]).upper(), ", ".join(str(item) for item in doc["blocking"])
    except KeyError as exc:  # cut short by hand, or another tool's JSON
        return f"no verdict: {path} has no {exc}"
    except (OSError, ValueError, TypeError) as exc:  # unreadable, corrupt, or not a JSON object
        return f"no verdict: {path} is not a readable report ({exc})"
    return verdict + (f" (blocking: {blocking})" if blocking else "")


def demo(faults: Sequence[str], reports: Path, workers: str) -> int:
    """Start the sandbox, run the four stages in go-live order against it, stop it, print the verdict."""
    from golive.sandbox import Sandbox

    reports.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:  # the previous demo's artifacts, and nothing else
        for suffix in ARTIFACT_SUFFIXES:
            (reports / f"{stage}{suffix}").unlink(missing_ok=True)
    extra = ["-n", workers] if workers != "0" else []
    codes: dict[str, int] = {}
    # SIGTERM (a CI job cancelled, a terminal closed) unwinds like Ctrl-C, so the sandbox is always stopped.
    signal.signal(signal.SIGTERM, _terminate)
    with tempfile.TemporaryDirectory(prefix="golive-demo-") as workdir:
        print(f"golive demo: starting the sandbox{' with faults ' + ', '.join(faults) if faults else ''} ...")
        with Sandbox(Path(workdir), faults=faults) as sandbox:
            environ = {**os.environ, **sandbox.environ()}
            for stage in STAGES:
                if stage == "smoke":  # the operator's step between the canary and smoke stages
                    print("\ngolive demo: rolling deploy: every instance to the new release, paused jobs resumed")
                sandbox.rollout.enter_stage(stage)
                print(f"\n=== golive demo: stage {stage} ===", flush=True)
                codes[stage] = run_stage(stage, "sandbox", reports, extra, environ)
                if _INTERRUPTED.is_set():  # the stage ended as interrupted, its artifacts written: stop the sandbox
                    raise KeyboardInterrupt
    print("\ngolive demo: verdicts")
    for stage in STAGES:
        print(f"  {stage:<11} {_stage_verdict(reports, stage)}")
    go = all(code == 0 for code in codes.values())
    print(f"golive demo: reports in {reports}")
    print(f"golive demo: {'GO' if go else 'NO-GO'}")
    return 0 if go else 1


_INTERRUPTED = threading.Event()


def _terminate(signum: int, frame: object) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _write_env_file(directory: Path, environ: Mapping[str, str]) -> Path:
    path = directory / "env.sh"
    lines = [f"export {name}={_shell_quote(value)}" for name, value in sorted(environ.items())]
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def sandbox_command(args: argparse.Namespace) -> int:
    from golive import sandbox
    from golive.sandbox.faults import FAULTS

    directory = Path(args.dir)
    match args.action:
        case "faults":
            for fault in FAULTS.values():
                print(f"{fault.name:<28} {','.join(fault.items):<10} {fault.description}")
            return 0
        case "up":
            environ = sandbox.up(directory, args.fault)
            env_file = _write_env_file(directory, environ)
            print(f"golive sandbox: up in {directory}")
            print(f"variables ({len(environ)}): {', '.join(sorted(environ))}")
            print(f"use it:  source {env_file} && pytest -m preflight --env sandbox")
            print("   or:   golive run preflight --env sandbox   (after the source)")
            return 0
        case "down":
            stopped = sandbox.down(directory)
            print("golive sandbox: stopped" if stopped else "golive sandbox: was not running")
            return 0
        case "deploy":  # the rolling deploy (deploy/rolling.sh calls it for the sandbox)
            state = sandbox.deploy(directory)
            print(f"golive sandbox: deployed {state['environ']['GOLIVE_RELEASE_TAG']} to every instance")
            return 0
        case "status":
            state = sandbox.status(directory)
            if state is None:
                print("golive sandbox: not running")
                return 1
            faults = ", ".join(state.get("faults", [])) or "none"
            print(f"golive sandbox: running (pid {state['pid']}, since {state['started_at']}, faults: {faults})")
            return 0
    return USAGE_ERROR


def _parser() -> argparse.ArgumentParser:
    from golive.sandbox.faults import FAULTS

    parser = argparse.ArgumentParser(prog="golive", description="The production go-live checklist as a pytest suite.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo_p = sub.add_parser("demo", help="run the whole go-live against the built-in sandbox")
    demo_p.add_argument("--fault", action="append", default=[], choices=list(FAULTS), metavar="NAME")
    demo_p.add_argument("--reports", default=str(ROOT / "reports"), help="where the artifacts go")
    demo_p.add_argument("-n", "--workers", default="auto", help="pytest-xdist workers per stage (0: no xdist)")

    box = sub.add_parser("sandbox", help="start, stop or inspect the sandbox")
    box.add_argument("action", choices=["up", "down", "status", "faults", "deploy"])
    box.add_argument("--fault", action="append", default=[], choices=list(FAULTS), metavar="NAME")
    box.add_argument("--dir", default=str(SANDBOX_DIR), help="the sandbox's working directory")

    drill = sub.add_parser(
        "restore-drill",
        help="restore the latest backup into a scratch database (or RESTORE_TARGET_URL's staging server) and record it",
    )
    drill.add_argument("--env", default=os.environ.get("GOLIVE_ENV"), help="environment name or path")
    drill.add_argument("--record", default=None, help="where to write the record (default database.restore_record)")

    run = sub.add_parser("run", help="run one stage: pytest -m STAGE --env NAME")
    run.add_argument("stage", choices=STAGES)
    run.add_argument("--env", default=os.environ.get("GOLIVE_ENV"), help="environment name or path")
    run.add_argument("--reports", default=None, help="where the artifacts go (default reports/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "run" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        match args.command:
            case "demo":
                return demo(args.fault, Path(args.reports), args.workers)
            case "sandbox":
                return sandbox_command(args)
            case "restore-drill":
                from golive import restore_drill

                return restore_drill.command(args.env, args.record, ROOT)
            case "run":
                if not args.env:
                    print("golive run: no environment: pass --env NAME or set GOLIVE_ENV", file=sys.stderr)
                    return USAGE_ERROR
                reports = Path(args.reports) if args.reports else None
                return run_stage(args.stage, args.env, reports, extra, os.environ)
            case _:
                return USAGE_ERROR
    except (RuntimeError, ValueError, OSError) as exc:
        if not _INTERRUPTED.is_set():
            print(f"golive: {exc}", file=sys.stderr)
            return 1
        # a consequence of the interruption: a half-started sandbox, or a cluster that would not stop
        print(f"golive: interrupted; on the way out: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        pass
    print("golive: interrupted; the sandbox was stopped", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
