"""The reference app over HTTPS: health, the front, login, orders, static assets."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from golive.sandbox import SMOKE_USER, Release, Sandbox, SandboxError
from golive.sandbox.rollout import PREVIOUS_COMMIT, PREVIOUS_TAG

INSTANCE_URLS = {
    "GOLIVE_SANDBOX_INSTANCE_1_URL": "instance-1",
    "GOLIVE_SANDBOX_INSTANCE_2_URL": "instance-2",
    "GOLIVE_SANDBOX_CANARY_URL": "canary",
}


def test_ca_file_holds_the_root_only(env):
    certificates = x509.load_pem_x509_certificates(Path(env["GOLIVE_SANDBOX_CA"]).read_bytes())
    assert len(certificates) == 1
    (root,) = certificates
    assert root.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.parametrize(("key", "instance"), INSTANCE_URLS.items())
def test_instance_health_over_verified_tls(https, env, key, instance):
    answer = https.get(env[key] + "/api/health")
    assert answer.status_code == 200
    # before the rolling deploy the baselines serve the previous release, the canary the new one (rollout.py)
    tag, commit = (Release().tag, Release().commit) if instance == "canary" else (PREVIOUS_TAG, PREVIOUS_COMMIT)
    assert answer.json() == {
        "status": "ok",
        "version": tag,
        "commit": commit,
        "instance": instance,
    }
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_chain_verifies_strictly_against_the_root(env):
    """Only the root is trusted, so the servers must send the intermediate; strict X.509 checks pass too."""
    verify = ssl.create_default_context(cafile=env["GOLIVE_SANDBOX_CA"])
    verify.verify_flags |= ssl.VERIFY_X509_STRICT
    with httpx.Client(verify=verify, timeout=10) as client:
        for key in ("GOLIVE_SANDBOX_APP_URL", "GOLIVE_SANDBOX_RAZORPAY_URL", "GOLIVE_SANDBOX_SENTRY_URL"):
            client.get(env[key] + "/")  # any answer will do: a TLS failure raises


def test_system_trust_store_rejects_the_sandbox(env):
    with httpx.Client(timeout=10) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(env["GOLIVE_SANDBOX_APP_URL"] + "/api/health")


def test_front_round_robins_over_the_baselines(https, env):
    seen = [https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/api/health").json()["instance"] for _ in range(4)]
    assert sorted(seen) == ["instance-1", "instance-1", "instance-2", "instance-2"]


def test_front_passes_headers_once(https, env):
    answer = https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/")
    for name in ("date", "server", "strict-transport-security", "content-length"):
        assert len(answer.headers.get_list(name)) == 1, name


@pytest.mark.parametrize("key", ["GOLIVE_SANDBOX_APP_URL", "GOLIVE_SANDBOX_CANARY_URL"])
def test_database_health(https, env, key):
    answer = https.get(env[key] + "/api/health/db")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["latency_ms"] >= 0


def test_static_asset_and_html_cache_headers(https, env):
    html = https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/")
    assert html.status_code == 200
    assert html.headers["cache-control"] == "no-cache"
    assert "/static/app.3f9c2b1e.js" in html.text
    asset = https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/static/app.3f9c2b1e.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_login_then_me(https, env):
    app = env["GOLIVE_SANDBOX_APP_URL"]
    login = https.post(app + "/api/login", json={"username": env["SMOKE_USER"], "password": env["SMOKE_PASSWORD"]})
    assert login.status_code == 200
    token = login.json()["token"]
    for _ in range(2):  # the token works on both baselines, whichever the front picks
        me = https.get(app + "/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json() == {"username": SMOKE_USER}


@pytest.mark.parametrize(
    "credentials",
    [{"username": SMOKE_USER, "password": "wrong"}, {"username": "nobody", "password": "x"}],
)
def test_login_refuses_bad_credentials(https, env, credentials):
    assert https.post(env["GOLIVE_SANDBOX_APP_URL"] + "/api/login", json=credentials).status_code == 401


@pytest.mark.parametrize("authorization", [None, "Bearer forged.0000", "Basic abc"])
def test_me_refuses_without_a_valid_token(https, env, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    assert https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/api/me", headers=headers).status_code == 401


def test_order_is_created_at_razorpay_and_recorded(https, env, db):
    answer = https.post(
        env["GOLIVE_SANDBOX_APP_URL"] + "/api/orders", json={"amount": 50000, "currency": "INR", "receipt": "rcpt-1"}
    )
    assert answer.status_code == 201
    created = answer.json()
    row = db.execute(
        "select razorpay_order_id, amount, currency, receipt, status from orders where id = %s", (created["id"],)
    ).fetchone()
    assert row == (created["razorpay_order_id"], 50000, "INR", "rcpt-1", "created")
    at_razorpay = https.get(
        f"{env['GOLIVE_SANDBOX_RAZORPAY_URL']}/v1/orders/{created['razorpay_order_id']}",
        auth=(env["RAZORPAY_KEY_ID"], env["RAZORPAY_KEY_SECRET"]),
    )
    assert at_razorpay.status_code == 200
    assert at_razorpay.json()["receipt"] == "rcpt-1"


def test_order_refused_by_razorpay_is_a_400(https, env):
    answer = https.post(
        env["GOLIVE_SANDBOX_APP_URL"] + "/api/orders", json={"amount": 50, "currency": "INR", "receipt": "rcpt-2"}
    )
    assert answer.status_code == 400
    assert "Razorpay refused the order" in answer.json()["error"]


def test_second_sandbox_in_the_same_directory_is_refused(sandbox):
    with pytest.raises(SandboxError, match="another sandbox is running"):
        Sandbox(sandbox.workdir).start()
