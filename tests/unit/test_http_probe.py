import time

import httpx
import pytest

from golive.config import HealthPolicy, HttpSettings
from golive.outcomes import ProbeError
from golive.probes.http import MAX_BODY_BYTES, Response, check_health, get, judge_health, make_client
from tests.netutil import blackhole, closed_port, http_server, json_answer

POLICY = HealthPolicy(expect_body={"status": "ok"}, latency_budget_ms=500)


def answer(status=200, text='{"status":"ok","version":"v1","commit":"abc"}', latency=10.0):
    return Response("https://app/api/health", status, latency, {"content-type": "application/json"}, text)


def test_healthy_answer_passes_with_evidence():
    verdict = judge_health(answer(), 200, {"status": "ok"}, 500)
    assert verdict.ok
    assert verdict.measured == {
        "status": 200, "latency_ms": 10.0, "body.status": "ok", "body.version": "v1", "body.commit": "abc",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (answer(status=503), "status 503, expected 200"),
        (answer(text='{"status":"degraded"}'), "body.status = 'degraded', expected 'ok'"),
        (answer(text='{"healthy":true}'), "body.status missing, expected 'ok'"),
        (answer(text="<html>ok</html>"), "body is not a JSON object"),
        (answer(text="[1]"), "body is not a JSON object"),
        (answer(latency=900.0), "latency 900 ms, budget 500 ms"),
    ],
)
def test_each_unhealthy_answer_says_measured_and_expected(response, problem):
    verdict = judge_health(response, 200, {"status": "ok"}, 500)
    assert not verdict.ok
    assert any(p.startswith(problem) for p in verdict.problems), verdict.problems
    assert verdict.explain().startswith("GET https://app/api/health: ")


def test_real_server_answer_is_judged():
    def handle(method, path, body):
        return json_answer(200 if path == "/api/health" else 503, {"status": "ok" if path == "/api/health" else "down"})

    with http_server(handle) as base, make_client(HttpSettings()) as client:
        assert check_health(client, f"{base}/api/health", {"status": "ok"}, POLICY).ok
        bad = check_health(client, f"{base}/api/health/db", {"status": "ok"}, POLICY)
        assert bad.problems[:2] == ("status 503, expected 200", "body.status = 'down', expected 'ok'")


def test_refused_connection_is_one_line():
    with make_client(HttpSettings()) as client, pytest.raises(ProbeError) as raised:
        get(client, f"https://127.0.0.1:{closed_port()}/api/health")
    assert str(raised.value).endswith("/api/health: connection refused")


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_black_holed_host_times_out_within_the_configured_timeout(scheme):
    settings = HttpSettings(timeout_s=0.5, connect_timeout_s=0.5)
    with blackhole() as port, make_client(settings) as client:
        started = time.monotonic()
        with pytest.raises(ProbeError, match="timed out") as raised:
            get(client, f"{scheme}://127.0.0.1:{port}/api/health")
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert "\n" not in str(raised.value)


def test_unresolvable_host_is_named():
    with make_client(HttpSettings(connect_timeout_s=2)) as client, pytest.raises(ProbeError) as raised:
        get(client, "https://golive-no-such-host.invalid/api/health")
    assert "does not resolve" in str(raised.value) or "cannot connect" in str(raised.value)


def test_client_has_explicit_timeouts():
    with make_client(HttpSettings(timeout_s=4, connect_timeout_s=2)) as client:
        assert client.timeout == httpx.Timeout(4, connect=2)
        assert client.follow_redirects is False


def test_a_dripping_server_cannot_hold_a_probe_past_its_deadline():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip():
        conn, _ = listener.accept()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        conn.close()

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/health"
    started = time.monotonic()
    try:
        settings = HttpSettings(timeout_s=0.5, connect_timeout_s=0.5)
        with make_client(settings) as client, pytest.raises(ProbeError, match=r"no complete answer within 1 s"):
            get(client, url)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 2


def test_an_endless_answer_is_cut_at_the_size_limit():
    huge = (200, {}, b"x" * (MAX_BODY_BYTES + 10))
    with (
        http_server(lambda method, path, body: huge) as base,
        make_client(HttpSettings()) as client,
        pytest.raises(ProbeError, match="larger than 262144 bytes"),
    ):
        get(client, base + "/")


def test_an_invalid_url_is_one_line():
    with (
        make_client(HttpSettings()) as client,
        pytest.raises(ProbeError, match=r"^GET https://h:80a/: not a valid URL$"),
    ):
        get(client, "https://h:80a/")


def test_true_is_not_one():
    verdict = judge_health(answer(text='{"status": 1}'), 200, {"status": True}, 500)
    assert verdict.problems == ("body.status = 1, expected True",)
