"""The go-live stage probes against real loopback servers and the real stand-ins: smoke login, rolling-deploy
rows, flags and jobs, the metrics baseline (Prometheus stand-in), the uptime monitor (UptimeRobot stand-in)."""

import base64
import contextlib
import json
import socket
import ssl
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
import sentry_sdk
import uvicorn
from pydantic import HttpUrl
from sentry_sdk.utils import event_from_exception
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from golive.config import (
    ConfigError,
    HealthPolicy,
    MetricsSource,
    Release,
    SentrySettings,
    SmokeSettings,
    UptimeAttestation,
    parse_environment,
)
from golive.outcomes import ProbeError
from golive.probes.metrics import (
    BASELINE_SUBJECT,
    Reading,
    baseline_from_artifact,
    compare_with_baseline,
    instant_query,
    postlaunch_baseline,
    prometheus_auth,
    read_window,
)
from golive.probes.rollout import Instance, addresses_behind, instance_state, release_problems, resolve
from golive.probes.sentry import ReleaseErrorCounter, SentryApi, check_release, count_release_errors
from golive.probes.smoke import smoke_login
from golive.probes.switches import (
    FLAGS_TOKEN,
    JOBS_TOKEN,
    flags_on,
    jobs_not_in,
    parse_flags,
    parse_jobs,
    read_flags,
    read_jobs,
)
from golive.probes.uptime import missing_checks, review_attestation, uptimerobot_monitors
from golive.report import write_manifest
from golive.sandbox.faults import FaultState
from golive.sandbox.rollout import Rollout, Served, admin_routes, unleash_features
from golive.sandbox.standins import Store, create_sentry_app
from golive.sandbox.standins.prometheus import create_prometheus_app, evaluate
from golive.sandbox.standins.uptimerobot import create_uptimerobot_app
from golive.sandbox.tls import issue
from golive.secrets import Secret
from tests.netutil import closed_port, dripping_server, http_server, json_answer


@contextlib.contextmanager
def serve(app):
    """A stand-in served for real by uvicorn on 127.0.0.1 (plain HTTP); yields an httpx client and its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(timeout=5) as client:
            yield client, url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


PASSWORD = Secret("SMOKE_PASSWORD", "correct horse battery")


def login_app(method, path, body):
    if method == "POST" and path == "/api/login":
        sent = json.loads(body)
        if sent == {"username": "smoke@x.test", "password": "correct horse battery"}:
            return json_answer(200, {"token": "tok-123"})
        return json_answer(401, {"error": "invalid username or password"})
    if path == "/api/me":
        return json_answer(200, {"username": "smoke@x.test"})
    return json_answer(404, {"error": "no route"})


def test_smoke_login_follows_the_token_to_the_authenticated_endpoint():
    with http_server(login_app) as url, httpx.Client(timeout=2) as client:
        ok = smoke_login(client, url, SmokeSettings(), "smoke@x.test", PASSWORD)
        assert ok.problem is None
        assert (ok.login_status, ok.token_received, ok.me_status, ok.me_user) == (200, True, 200, "smoke@x.test")
        wrong = smoke_login(client, url, SmokeSettings(), "other@x.test", PASSWORD)
        assert wrong.problem == (
            f"POST {url}/api/login as other@x.test: status 401 ('invalid username or password'), no 'token' "
            "in the answer; expected status 200 with a 'token'"
        )
        renamed = smoke_login(client, url, SmokeSettings(username_field="email"), "smoke@x.test", PASSWORD)
        assert renamed.login_status == 401  # sent as {"email": ...}: this app wants "username"
        other_token = smoke_login(client, url, SmokeSettings(token_field="access_token"), "smoke@x.test", PASSWORD)
        assert other_token.problem.endswith("no 'access_token' in the answer; expected status 200 with a "
                                            "'access_token'")  # fmt: skip
        no_me = smoke_login(client, url, SmokeSettings(me_path="/api/whoami"), "smoke@x.test", PASSWORD)
        assert no_me.problem == f"GET {url}/api/whoami with the login's token: status 404 ('no route'), expected 200"
        assert "tok-123" not in repr(ok)
        assert "battery" not in repr(ok)


def test_smoke_login_unreachable_is_one_line():
    with httpx.Client(timeout=2) as client, pytest.raises(ProbeError, match=r"connection refused$"):
        smoke_login(client, f"http://127.0.0.1:{closed_port()}", SmokeSettings(), "u", PASSWORD)


def test_a_login_that_never_ends_its_answer_is_cut_at_the_deadline():
    with dripping_server() as url, httpx.Client(timeout=httpx.Timeout(0.5, connect=0.5)) as client:
        started = time.monotonic()
        with pytest.raises(ProbeError, match=r"^POST http://127.0.0.1:\d+/api/login: no complete answer within 1 s$"):
            smoke_login(client, url, SmokeSettings(), "u", PASSWORD)
    assert time.monotonic() - started < 3


def test_instance_rows_name_health_and_version():
    def health(_method, _path, _body):
        return json_answer(200, {"status": "ok", "version": "v1.3.2", "commit": "a" * 40})

    with http_server(health) as url, httpx.Client(timeout=2) as client:
        old = instance_state(client, Instance("instance-2", url + "/api/health"), HealthPolicy(), "version", "commit",
                             "v1.4.0", None)  # fmt: skip
        assert old.problems == ("version 'v1.3.2', expected 'v1.4.0'",)
        assert old.row()[:4] == ["instance-2", url + "/api/health", 200, "v1.3.2"]
        same = instance_state(client, Instance("instance-1", url + "/api/health"), HealthPolicy(), "version", "commit",
                              "v1.3.2", "a" * 40)  # fmt: skip
        assert same.ok
    dead = f"http://127.0.0.1:{closed_port()}/api/health"
    with httpx.Client(timeout=2) as client:
        down = instance_state(client, Instance("instance-3", dead), HealthPolicy(), "version", "commit", "v1", None)
    assert down.explain() == f"instance-3: GET {dead}: connection refused"
    assert release_problems({}, "version", "commit", "v1", "c")[2] == [
        "version None, expected 'v1'",
        "commit None, expected 'c'",
    ]


def test_flags_in_unleash_and_json_formats():
    unleash = unleash_features({"new-checkout-flow": True, "dark-mode": False})
    assert parse_flags(unleash, "unleash", "u") == {"new-checkout-flow": True, "dark-mode": False}
    assert parse_flags({"flags": {"a": False}}, "json", "u") == {"a": False}
    assert parse_flags({"a": True}, "json", "u") == {"a": True}
    with pytest.raises(ProbeError, match="not an Unleash features answer"):
        parse_flags({"status": "ok"}, "unleash", "u")
    with pytest.raises(ProbeError, match="not a JSON object of flag name"):
        parse_flags({"a": "yes"}, "json", "u")
    assert flags_on({"a": True, "b": False}, ["a", "b", "c"]) == (["a"], ["c"])


def test_flag_source_that_answers_an_error_is_one_line():
    refuse = http_server(lambda *_: json_answer(500, {"error": "database unavailable"}))
    with refuse as url, httpx.Client(timeout=2) as c, pytest.raises(ProbeError, match=r"status 500, expected 200"):
        read_flags(c, url + "/api/client/features", "unleash")


def test_flags_and_jobs_sources_that_require_a_token_get_it_and_name_it_when_refused():
    client_token, bearer = "default:production.0d5e8f", "jobs-token-4417"
    app = Starlette(routes=admin_routes(Rollout("v1", "c", FaultState(), client_token, bearer)))
    with serve(app) as (client, url):
        flags = read_flags(client, url + "/api/admin/flags", "unleash", Secret(FLAGS_TOKEN, client_token))
        assert flags["new-checkout-flow"] is False
        with pytest.raises(ProbeError) as missing:
            read_flags(client, url + "/api/admin/flags", "unleash")
        assert str(missing.value) == (
            f"GET {url}/api/admin/flags: status 401 ('This endpoint requires an API token. Please add an "
            "authorization header to your request with a valid token'): UNLEASH_API_TOKEN is not set; expected 200 "
            "with a JSON body"
        )
        with pytest.raises(ProbeError) as wrong:
            read_flags(client, url + "/api/admin/flags", "unleash", Secret(FLAGS_TOKEN, "default:production.bad1"))
        assert "UNLEASH_API_TOKEN was refused" in str(wrong.value)
        assert "bad1" not in str(wrong.value)
        jobs = read_jobs(client, url + "/api/admin/jobs", Secret(JOBS_TOKEN, bearer))
        assert jobs["analytics-export"] == "paused"
        with pytest.raises(ProbeError, match=r"status 401 \('missing or invalid bearer token'\): JOBS_API_TOKEN is"):
            read_jobs(client, url + "/api/admin/jobs")


def test_jobs_states():
    listed = parse_jobs({"jobs": [{"name": "a", "state": "paused"}, {"name": "b", "state": "running"}]}, "u")
    assert listed == {"a": "paused", "b": "running"}
    assert parse_jobs({"a": "paused"}, "u") == {"a": "paused"}
    assert jobs_not_in(listed, ["a", "b", "c"], "paused") == ["b is running", "c is not listed"]
    assert jobs_not_in(listed, ["a", "b"], "running") == ["a is paused"]
    # after launch, a job that failed or was stopped is not running again
    crashed = parse_jobs({"jobs": [{"name": "a", "state": "failed"}, {"name": "b", "state": "stopped"}]}, "u")
    assert jobs_not_in(crashed, ["a", "b"], "running") == ["a is failed", "b is stopped"]
    with pytest.raises(ProbeError, match="not a jobs status answer"):
        parse_jobs({"jobs": "all fine"}, "u")


def rollout_with_traffic(now, n=200, every=20):
    rollout = Rollout("v1", "c", FaultState())
    for i in range(n):
        status = 500 if i % every == 0 else 200
        rollout.record(Served(now - 5 + i * 5 / n, "instance-1", "/", status, 0.002 + (i % 10) / 1000))
    return rollout


def test_prometheus_stand_in_evaluates_the_default_shapes():
    now = time.time()
    rollout = rollout_with_traffic(now)
    source = MetricsSource()
    assert evaluate(rollout, source.error_rate_query.replace("{window}", "10s"), now) == pytest.approx(0.05)
    assert evaluate(rollout, source.request_rate_query.replace("{window}", "10s"), now) == pytest.approx(20.0)
    assert evaluate(rollout, source.latency_p95_query.replace("{window}", "10s"), now) == pytest.approx(0.011)
    # no traffic in the window: empty vectors, as Prometheus answers them
    assert evaluate(rollout, source.error_rate_query.replace("{window}", "10s"), now - 3600) is None
    assert evaluate(rollout, source.latency_p95_query.replace("{window}", "10s"), now - 3600) is None
    # traffic but not one 5xx: without `or vector(0)` the ratio is empty; golive's default query reads 0
    healthy = Rollout("v1", "c", FaultState())
    for i in range(100):
        healthy.record(Served(now - 5 + i / 20, "instance-1", "/", 200, 0.002))
    plain = 'sum(rate(http_requests_total{status=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))'
    assert evaluate(healthy, plain, now) is None
    assert evaluate(healthy, source.error_rate_query.replace("{window}", "10s"), now) == 0.0
    assert evaluate(rollout, 'sum(rate(http_requests_total{path="/",instance=~"instance-.*"}[10s]))', now) == 20.0


def test_metrics_probe_reads_the_stand_in_and_reports_what_went_wrong():
    now = time.time()
    faults = FaultState()
    with serve(create_prometheus_app(rollout_with_traffic(now), faults, "prom-token-9")) as (client, url):
        source = MetricsSource(prometheus_url=url, min_requests=50)
        refused = read_window(client, source, now, 10)
        assert refused.problem == (
            f"metrics source GET {url}/api/v1/query: status 401 ('Unauthorized'): the credentials (none sent) were "
            "refused; set PROMETHEUS_TOKEN, or stages.metrics.basic_auth_user and PROMETHEUS_PASSWORD"
        )
        auth = prometheus_auth(None, None, Secret("PROMETHEUS_TOKEN", "prom-token-9"))
        metrics_probe_cases(client, url, now, faults, auth)


def test_metrics_source_behind_basic_auth():
    """A hosted Prometheus (Grafana Cloud style): basic auth with the instance id and an API key."""
    expected = "Basic " + base64.b64encode(b"grafana-123:cloud-key").decode()

    async def query(request):
        if request.headers.get("authorization") != expected:
            return JSONResponse({"status": "error", "error": "authentication error"}, status_code=401)
        vector = {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.5"]}]}
        return JSONResponse({"status": "success", "data": vector})

    auth = prometheus_auth("grafana-123", Secret("PROMETHEUS_PASSWORD", "cloud-key"), None)
    with serve(Starlette(routes=[Route("/api/v1/query", query)])) as (client, url):
        assert instant_query(client, url, "up", time.time(), auth) == (0.5, None)
        assert 'status 401 (\'{"status":"error"' in instant_query(client, url, "up", time.time())[1]


def metrics_probe_cases(client, url, now, faults, auth):
    source = MetricsSource(prometheus_url=url, min_requests=50)
    reading = read_window(client, source, now, 10, auth)
    assert reading.problem is None
    assert (reading.error_rate, reading.requests) == (0.05, 200.0)
    empty = read_window(client, source, now - 3600, 10, auth)
    assert empty.problem is not None
    assert "returned no series (no traffic in the window?)" in empty.problem
    value, problem = instant_query(client, url, "up{job='x'}", now, auth)
    assert value is None
    assert "status 400" in problem
    assert "does not evaluate" in problem
    faults.set(["metrics-down"])
    down = read_window(client, source, now, 10, auth)
    assert down.problem.startswith(f"metrics source GET {url}/api/v1/query: status 503")


def preflight_artifact(path, doc):
    """A preflight JSON artifact and the manifest golive.report writes beside it."""
    path.write_text(json.dumps(doc))
    write_manifest([path], path.with_suffix(".sha256"))


def test_baseline_comparison_and_artifact(tmp_path):
    source = MetricsSource(error_rate_factor=1.5, error_rate_margin=0.005, latency_factor=2, latency_margin_ms=50)
    baseline = {"error_rate": 0.05, "latency_p95_ms": 10.0}
    ok = compare_with_baseline(Reading(0, 3, 0.06, 30.0, 100), baseline, source)
    assert ok.problems == ()
    bad = compare_with_baseline(Reading(0, 3, 0.10, 90.0, 100), baseline, source)
    assert bad.problems == (
        "error rate 10.00% over the last 3s, baseline 5.00%, allowed 7.50%",
        "p95 latency 90.0 ms, baseline 10.0 ms, allowed 70.0 ms",
    )
    release = Release(tag="v1", commit="c", digest="d")
    path = tmp_path / "preflight.json"
    assert baseline_from_artifact(path, "prod", release) == (None, f"no preflight artifact at {path}")
    evidence = [{"subject": BASELINE_SUBJECT, "measured": baseline}]

    def artifact(doc):
        preflight_artifact(path, doc)
        return baseline_from_artifact(path, "prod", release)

    good = {"environment": "prod", "release": {"tag": "v1", "commit": "c"},
            "items": [{"id": "OBS-05", "outcome": "passed", "evidence": evidence}]}  # fmt: skip
    assert artifact(good) == (baseline, f"recorded by preflight in {path}")
    # a hand-edited artifact (a lower baseline error rate written in) no longer matches its manifest: refused
    path.write_text(json.dumps(good).replace('"error_rate": 0.05', '"error_rate": 0.5'))
    assert baseline_from_artifact(path, "prod", release) == (
        None, f"{path} does not match its digest in preflight.sha256 (changed after the run?)")  # fmt: skip
    (tmp_path / "preflight.sha256").unlink()
    assert baseline_from_artifact(path, "prod", release) == (
        None, f"{path} has no manifest preflight.sha256 beside it")  # fmt: skip
    assert artifact(good)[0] == baseline
    assert baseline_from_artifact(path, "staging", release)[0] is None
    other_commit = artifact({**good, "release": {"tag": "v1", "commit": "e"}})[1]
    assert other_commit == f"{path} is for 'prod' release 'v1' at 'e', not this run's ('prod' 'v1' at 'c')"
    failed = artifact({**good, "items": [{**good["items"][0], "outcome": "failed"}]})
    assert failed == (None, f"OBS-05 in {path} is 'failed': its measurements are no baseline")
    # artifacts of another shape are a reason, never a traceback
    for odd in ([1, 2], {**good, "release": "v1"}, {**good, "items": ["x", {"id": "OBS-05", "outcome": "passed",
                "evidence": ["y", {"subject": BASELINE_SUBJECT, "measured": {"error_rate": 0.05}}]}]}):  # fmt: skip
        assert artifact(odd)[0] is None


def test_uptime_monitors_from_the_stand_in():
    faults = FaultState()
    with serve(create_uptimerobot_app("k-123", "https://app.test", faults)) as (client, url):
        uptime_cases(client, url, faults)


def test_uptime_monitors_are_read_page_by_page():
    """An account with more monitors than one page (50): the health checks listed last are still found."""
    with serve(create_uptimerobot_app("k-123", "https://app.test", FaultState(), others=120)) as (client, url):
        monitors = uptimerobot_monitors(client, url, Secret("UPTIMEROBOT_API_KEY", "k-123"))
    assert len(monitors) == 122
    assert missing_checks(monitors, ["https://app.test/api/health", "https://app.test/api/health/db"]) == []


def uptime_cases(client, api, faults):
    monitors = uptimerobot_monitors(client, api, Secret("UPTIMEROBOT_API_KEY", "k-123"))
    urls = ["https://app.test/api/health", "https://app.test/api/health/db"]
    assert missing_checks(monitors, urls) == []
    faults.set(["uptime-db-check-missing"])
    assert missing_checks(uptimerobot_monitors(client, api, Secret("K", "k-123")), urls) == [
        "no monitor checks https://app.test/api/health/db"
    ]
    with pytest.raises(ProbeError) as refused:
        uptimerobot_monitors(client, api, Secret("UPTIMEROBOT_API_KEY", "wrong-key-42"))
    assert "wrong-key-42" not in str(refused.value)
    assert "refused the request (invalid_parameter api_key" in str(refused.value)


SENTRY_KEY, SENTRY_PROJECT_ID, SENTRY_TOKEN = "ab" * 16, "4501234", "sntrys_" + "t" * 40


def sentry_error(url, release, message="checkout failed", kind=ValueError, environment="production"):
    """One error event sent as an app does: sentry-sdk's real client and transport, an exception with a stack."""
    client = sentry_sdk.Client(dsn=f"http://{SENTRY_KEY}@{url.removeprefix('http://')}/{SENTRY_PROJECT_ID}",
                               release=release, environment=environment, default_integrations=False)  # fmt: skip
    try:
        raise kind(message)
    except kind as error:
        event, hint = event_from_exception(error, client_options=client.options)
    client.capture_event(event, hint=hint)
    client.close(timeout=5)


def sentry_api(url, project="web", org="acme", token=SENTRY_TOKEN):
    return SentryApi(url, org, project, Secret("SENTRY_AUTH_TOKEN", token))


def test_release_error_events_counted_through_sentrys_discover_api():
    store = Store()
    app = create_sentry_app(SENTRY_KEY, SENTRY_PROJECT_ID, SENTRY_TOKEN, "acme", "web", FaultState(), store)
    with serve(app) as (client, url):
        before = datetime.now(UTC)
        sentry_error(url, "v1.4.0")
        sentry_error(url, "v1.4.0", "cart failed")
        sentry_error(url, "v1.4.0", environment="staging")  # the same release elsewhere: not this environment's
        sentry_error(url, "v1.3.2")  # the baselines' release
        logger = sentry_sdk.Client(dsn=f"http://{SENTRY_KEY}@{url[7:]}/{SENTRY_PROJECT_ID}", release="v1.4.0",
                                   environment="production", default_integrations=False)  # fmt: skip
        logger.capture_event({"message": "a log line, not an error"})
        logger.close(timeout=5)
        after = datetime.now(UTC) + timedelta(seconds=1)
        web = sentry_api(url)
        counted = count_release_errors(client, web, "v1.4.0", "production", before, after)
        assert (counted.count, counted.query) == (2, 'event.type:error release:"v1.4.0" environment:"production"')
        assert count_release_errors(client, sentry_api(url, SENTRY_PROJECT_ID), "v1.4.0", "production", before,
                                    after).count == 2  # fmt: skip
        assert count_release_errors(client, web, "v1.4.0", "staging", before, after).count == 1
        assert count_release_errors(client, web, "v1.3.2", "production", before, after).count == 1
        # only the window counts: errors before it are not the canary's
        assert count_release_errors(client, web, "v1.4.0", "production", after, after).count == 0
        counter = ReleaseErrorCounter(client, web, "v1.4.0", "production")
        assert counter.count() == 0
        sentry_error(url, "v1.4.0")
        assert counter.count() == 1
        assert counter.where == "release v1.4.0 in environment production in Sentry acme/web"
        sentry_refusals(client, url, before, after)


def test_a_release_sentry_does_not_know_is_an_error_naming_it_not_a_count_of_zero():
    """The app reports release "shop@1.4.0"; counting "v1.4.0" would find 0 errors whatever the canary does."""
    store = Store()
    app = create_sentry_app(SENTRY_KEY, SENTRY_PROJECT_ID, SENTRY_TOKEN, "acme", "web", FaultState(), store)
    with serve(app) as (client, url):
        sentry_error(url, "shop@1.4.0")  # Sentry creates the release the app's first event names
        store.add_sentry_release("web@2.0.0")  # a deploy created this one (sentry-cli releases new), no event yet
        check_release(client, sentry_api(url), "shop@1.4.0")
        check_release(client, sentry_api(url, SENTRY_PROJECT_ID), "web@2.0.0")
        counter = ReleaseErrorCounter(client, sentry_api(url), "v1.4.0", "production")
        with pytest.raises(ProbeError) as unknown:
            counter.count()
        assert str(unknown.value) == (
            "Sentry has no release 'v1.4.0' in acme (HTTP 404 'The requested resource does not exist'): the app's "
            "events are not counted under that name; set sentry.release to the release name the app's Sentry SDK "
            "reports, or create the release when deploying"
        )
        with pytest.raises(ProbeError, match=r"^Sentry's release 'shop@1.4.0' in acme is of project\(s\) web, not "
                           r"mobile: its events there are not counted$"):  # fmt: skip
            check_release(client, sentry_api(url, "mobile"), "shop@1.4.0")
        with pytest.raises(ProbeError, match=r"^Sentry API refused SENTRY_AUTH_TOKEN \(HTTP 401\) for the releases"):
            check_release(client, sentry_api(url, token="sntrys_wrong_token_1234567"), "shop@1.4.0")


def sentry_refusals(client, url, before, after):
    def count(org="acme", project="web", token=SENTRY_TOKEN):
        return count_release_errors(client, sentry_api(url, project, org, token), "v1.4.0", "production", before,
                                    after)  # fmt: skip

    with pytest.raises(ProbeError) as refused:
        count(token="sntrys_wrong_token_1234567")
    assert str(refused.value) == (
        "Sentry API refused SENTRY_AUTH_TOKEN (HTTP 401) for the events of acme (the token needs org:read)"
    )
    assert "wrong_token" not in str(refused.value)
    with pytest.raises(ProbeError, match=r"^Sentry API: no organization other \(The requested resource does not"):
        count(org="other")
    with pytest.raises(ProbeError, match=r"^Sentry API: no project mobile in acme that SENTRY_AUTH_TOKEN can read$"):
        count(project="mobile")
    with httpx.Client(timeout=2) as plain, pytest.raises(ProbeError, match=r"connection refused$"):
        count_release_errors(plain, sentry_api(f"http://127.0.0.1:{closed_port()}"), "v1", "production", before,
                             after)  # fmt: skip


@pytest.mark.parametrize(
    ("template", "message"),
    [("{version}", 'names {version}; expected {tag} or {commit} (e.g. "myapp@{tag}")'),
     ("shop@{", "not a template (Single '{' encountered in format string); write braces as {{ and }}")],
)  # fmt: skip
def test_the_sentry_release_is_a_template_of_tag_and_commit(template, message):
    assert SentrySettings().release == "{tag}"
    assert SentrySettings(release="shop@{commit}").release_uses_commit
    with pytest.raises(ValueError) as caught:
        SentrySettings(release=template)
    assert caught.value.errors()[0]["loc"] == ("release",)
    assert message in str(caught.value)


def test_sentry_discover_stand_in_answers_like_sentry():
    store = Store()
    app = create_sentry_app(SENTRY_KEY, SENTRY_PROJECT_ID, SENTRY_TOKEN, "acme", "web", FaultState(), store)
    auth = {"Authorization": f"Bearer {SENTRY_TOKEN}"}
    with serve(app) as (client, url):
        sentry_error(url, 'v"2"')
        events = url + "/api/0/organizations/acme/events/"
        quoted = client.get(
            events, params={"field": "count()", "query": 'release:"v\\"2\\"" !level:info'}, headers=auth
        )
        assert quoted.json()["data"] == [{"count()": 1}]
        assert quoted.json()["meta"]["fields"] == {"count()": "integer"}
        half = {"field": "count()", "start": "2026-01-01T00:00:00"}
        for params, detail in (({}, "No columns selected"), (half, "start and end are both required"),
                               ({"field": "count()", "query": "user.email:x@y.z"}, "does not search 'user.email'"),
                               ({"field": "count()", "query": "boom"}, "does not evaluate 'boom'")):  # fmt: skip
            answer = client.get(events, params=params, headers=auth)
            assert answer.status_code == 400
            assert detail in answer.json()["detail"]
        assert client.get(events, params={"field": "count()"}).status_code == 401
        none = client.get(events, params={"field": "count()", "project": "99"}, headers=auth).json()
        assert none == {"data": [], "meta": {"tips": {"query": "Need at least one valid project to query."}}}
        everything = client.get(events, params={"field": "count()", "project": "-1"}, headers=auth).json()
        assert everything["data"] == [{"count()": 1}]


def test_an_uptime_attestation_is_fresh_past_and_names_every_monitored_url():
    urls = ["https://app.test/api/health", "https://app.test/api/health/db"]
    attestation = UptimeAttestation(by="Kabir Singh", role="sre", on=date(2026, 11, 20), monitors=urls, note="1 min")
    ok = review_attestation(attestation, urls, date(2026, 11, 26), 30)
    assert ok.problems == ()
    assert ok.statement == ("Kabir Singh (sre) confirmed on 2026-11-20 that the uptime monitor checks "
                            "https://app.test/api/health, https://app.test/api/health/db (1 min)")  # fmt: skip
    assert review_attestation(attestation, urls, date(2026, 11, 19), 30).problems == (
        "stages.uptime.attestation.on: 2026-11-20 is in the future; a confirmation not yet made",
    )
    assert review_attestation(attestation, urls, date(2027, 1, 1), 30).problems == (
        "stages.uptime.attestation.on: 2026-11-20 is 42 days ago, limit 30 (stages.uptime.attestation_max_age_days)",
    )
    partial = attestation.model_copy(update={"monitors": [HttpUrl(urls[0])]})
    assert review_attestation(partial, urls, date(2026, 11, 26), 30).problems == (
        "stages.uptime.attestation.monitors: no monitor named for https://app.test/api/health/db",
    )


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('by = "", role = "sre", on = 2026-11-20, monitors = ["https://a.test/api/health"]',
         "stages.uptime.attestation.by: String should have at least 1 character"),
        ('by = "K", role = "sre", on = "last week", monitors = ["https://a.test/api/health"]',
         "stages.uptime.attestation.on: Input should be a valid date"),
        ('by = "K", role = "sre", on = 2026-11-20, monitors = []',
         "stages.uptime.attestation.monitors: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_a_malformed_uptime_attestation_is_one_line_naming_the_key(table, expected):
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "https://a.test"\n'
    text += f"[stages.uptime]\nattestation = {{ {table} }}\n"
    with pytest.raises(ConfigError) as error:
        parse_environment(text, "s.toml", {})
    assert str(error.value).startswith(f"s.toml: {expected}")


def session_app():
    """An app with a form login that sets a session cookie (and redirects), as server-rendered apps do."""
    sessions: dict[str, str] = {}

    async def login(request):
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if (form.get("email"), form.get("passphrase")) != ("smoke@x.test", "correct horse battery"):
            return JSONResponse({"error": "invalid credentials"}, status_code=401)
        sid = f"s{len(sessions) + 1}"
        sessions[sid] = str(form["email"])
        answer = JSONResponse({}, status_code=303, headers={"Location": "/account"})
        answer.set_cookie("sid", sid, httponly=True, samesite="lax")
        answer.set_cookie("theme", "dark")
        return answer

    async def me(request):
        user = sessions.get(request.cookies.get("sid", ""))
        if user is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        return JSONResponse({"email": user})

    return Starlette(routes=[Route("/session", login, methods=["POST"]), Route("/account/me", me)])


def test_smoke_login_by_session_cookie_and_field_names_of_the_app():
    fields = {"username_field": "email", "password_field": "passphrase", "me_user_field": "email"}
    cookie = SmokeSettings(login_path="/session", me_path="/account/me", login_format="form", session="cookie",
                           cookie_name="sid", **fields)  # fmt: skip
    with serve(session_app()) as (client, url):
        ok = smoke_login(client, url, cookie, "smoke@x.test", PASSWORD)
        assert ok.problem is None
        assert ok.measured() == {"login_status": 303, "login_ms": ok.login_ms, "session": "cookie", "received": True,
                                 "me_status": 200, "me_ms": ok.me_ms, "me_user": "smoke@x.test"}  # fmt: skip
        assert not client.cookies  # no session outlives the check
        wrong = smoke_login(client, url, cookie, "smoke@x.test", Secret("SMOKE_PASSWORD", "not it at all"))
        assert wrong.problem == (f"POST {url}/session as smoke@x.test: status 401 ('invalid credentials'), no cookie; "
                                 "expected a 2xx or 3xx answer setting session cookie 'sid'")  # fmt: skip
        other = smoke_login(client, url, cookie.model_copy(update={"cookie_name": "session"}), "smoke@x.test", PASSWORD)
        assert other.problem == (f"POST {url}/session as smoke@x.test: status 303, cookies sid, theme; expected a 2xx "
                                 "or 3xx answer setting session cookie 'session'")  # fmt: skip
        lost = smoke_login(client, url, cookie.model_copy(update={"me_path": "/session"}), "smoke@x.test", PASSWORD)
        assert lost.problem.startswith(f"GET {url}/session with the login's session cookie 'sid': status 405")
        assert "horse" not in repr(ok) + repr(wrong)


def test_postlaunch_baseline_from_the_preflight_artifact_or_queried_saying_why(tmp_path):
    now = time.time()
    rollout = rollout_with_traffic(now - 3600)  # the pre-launch hour: traffic an hour ago
    release, artifact = Release(tag="v1", commit="c", digest="d"), tmp_path / "preflight.json"
    with serve(create_prometheus_app(rollout, FaultState())) as (client, url):
        source = MetricsSource(prometheus_url=url, min_requests=50, baseline_window_s=12, baseline_offset_s=3594)
        queried = postlaunch_baseline(client, source, artifact, "prod", release, None, now)
        assert (queried.values, queried.source) == ({"error_rate": 0.05, "latency_p95_ms": 11.0},
                                                    "queried: the 12s window ending 3594s ago")  # fmt: skip
        assert queried.measured()["preflight_artifact"] == f"not used: no preflight artifact at {artifact}"
        recorded = {"error_rate": 0.01, "latency_p95_ms": 20.0}
        preflight_artifact(
            artifact,
            {
                "environment": "prod",
                "release": {"tag": "v1", "commit": "c"},
                "items": [
                    {
                        "id": "OBS-05",
                        "outcome": "passed",
                        "evidence": [{"subject": BASELINE_SUBJECT, "measured": recorded}],
                    }
                ],
            },
        )
        found = postlaunch_baseline(client, source, artifact, "prod", release, None, now)
        assert (found.values, found.source, found.measured()) == (recorded, f"recorded by preflight in {artifact}",
                                                                  recorded)  # fmt: skip
        quiet = postlaunch_baseline(client, source, artifact, "staging", release, None, now - 7200)
        assert quiet.values is None
        assert quiet.problem.startswith(f"no baseline: {artifact} is for 'prod' release 'v1' at 'c', not this run's "
                                        "('staging' 'v1' at 'c'); the pre-launch window: metrics source ")  # fmt: skip


class _NamedHealth(BaseHTTPRequestHandler):
    """/api/health of one address behind a DNS name: the release it serves, and the Host it was asked for."""

    def do_GET(self):
        body = json.dumps({"status": "ok", "version": self.server.version, "host": self.headers["Host"]}).encode()
        self.server.hosts.append(self.headers["Host"])
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def behind_one_name(tmp_path, versions):
    """TLS servers on 127.0.0.1 and ::1, one port, with a certificate for app.golive.test only (no IP address)."""
    root = issue("test root CA", ca=True, path_length=0)
    leaf = issue("app.golive.test", issuer=root, sans=["app.golive.test"])
    (tmp_path / "ca.pem").write_bytes(root.certificate_pem())
    (tmp_path / "leaf.pem").write_bytes(leaf.certificate_pem())
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    v4 = ThreadingHTTPServer(("127.0.0.1", 0), _NamedHealth)
    port = v4.server_address[1]
    v6 = _V6Server(("::1", port), _NamedHealth)
    servers = {"127.0.0.1": v4, "::1": v6}
    for address, server in servers.items():
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.version, server.hosts = versions[address], []
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield port, servers, ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def test_every_address_behind_the_service_name_is_probed_with_the_name(tmp_path):
    with behind_one_name(tmp_path, {"127.0.0.1": "v2", "::1": "v1"}) as (port, servers, trust):
        service = f"https://app.golive.test:{port}"
        both = addresses_behind(service, "/api/health", lambda _host, _port: ["127.0.0.1", "::1"])
        assert [(i.name, i.url) for i in both] == [
            ("app.golive.test at 127.0.0.1", f"https://127.0.0.1:{port}/api/health"),
            ("app.golive.test at ::1", f"https://[::1]:{port}/api/health"),
        ]
        with httpx.Client(verify=trust, timeout=2) as client:
            rows = [instance_state(client, i, HealthPolicy(), "version", "commit", "v2", None) for i in both]
        assert [r.problems for r in rows] == [(), ("version 'v1', expected 'v2'",)]
        assert rows[1].explain() == f"app.golive.test at ::1: GET https://[::1]:{port}/api/health: version 'v1', " \
                                    "expected 'v2'"  # fmt: skip
        assert servers["127.0.0.1"].hosts == servers["::1"].hosts == [f"app.golive.test:{port}"]
        # the real resolver: localhost is 127.0.0.1 here, and the certificate is not for localhost
        (local,) = addresses_behind(f"https://localhost:{port}", "/api/health")
        assert (local.url, local.server_name) == (f"https://127.0.0.1:{port}/api/health", "localhost")
        with httpx.Client(verify=trust, timeout=2) as client:
            wrong = instance_state(client, local, HealthPolicy(), "version", "commit", "v2", None)
        assert wrong.problems[0].startswith("TLS certificate not trusted (Hostname mismatch")
    with pytest.raises(ProbeError, match=r"^no-such-host\.invalid does not resolve \("):
        resolve("no-such-host.invalid", 443)


def test_a_resolver_that_does_not_answer_is_waited_for_no_longer_than_the_timeout():
    """getaddrinfo has no timeout: a resolver that hangs (here a lookup that sleeps) must not hold CAN-02."""
    release = threading.Event()

    def hanging_lookup(host, port, **_kwargs):
        release.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    started = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        resolve("app.golive.test", 443, timeout_s=0.3, lookup=hanging_lookup)
    assert time.monotonic() - started < 1
    assert str(caught.value) == "app.golive.test does not resolve within 0.3 s (the resolver did not answer)"
    release.set()
    answered = resolve("app.golive.test", 443, timeout_s=2, lookup=hanging_lookup)
    assert answered == ["10.0.0.7"]


def test_a_query_answering_several_series_is_no_reading_of_the_service():
    """rate(...) by instance: golive does not pick one instance's value as the service's."""

    async def query(_request):
        result = [{"metric": {"instance": f"10.0.0.{n}:9100"}, "value": [1, str(n / 100)]} for n in range(1, 5)]
        return JSONResponse({"status": "success", "data": {"resultType": "vector", "result": result}})

    with serve(Starlette(routes=[Route("/api/v1/query", query)])) as (client, url):
        value, problem = instant_query(client, url, "rate(x[5m])", time.time())
    assert value is None
    assert problem == (
        '\'rate(x[5m])\' returned 4 series ({"instance": "10.0.0.1:9100"}, {"instance": "10.0.0.2:9100"}, '
        '{"instance": "10.0.0.3:9100"}, ...); expected one: aggregate it, e.g. sum(...) or sum by () (...)'
    )
