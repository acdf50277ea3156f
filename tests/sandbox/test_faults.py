"""The faults of the sandbox core: each changes exactly what it should, and switching back restores health."""

from __future__ import annotations

import pytest

from golive.sandbox import FAULTS, FaultState
from golive.sandbox.faults import ENV_EDITS

URL_KEYS = ("GOLIVE_SANDBOX_APP_URL", "GOLIVE_SANDBOX_INSTANCE_1_URL", "GOLIVE_SANDBOX_INSTANCE_2_URL",
            "GOLIVE_SANDBOX_CANARY_URL")  # fmt: skip


def _health(https, env) -> dict[str, int]:
    return {key: https.get(env[key] + "/api/health").status_code for key in URL_KEYS}


def _db_health(https, env) -> dict[str, int]:
    return {key: https.get(env[key] + "/api/health/db").status_code for key in URL_KEYS}


ALL_OK = dict.fromkeys(URL_KEYS, 200)


def test_registry_names_items_and_descriptions():
    assert list(FAULTS)[:8] == [
        "env-missing-node-env",
        "env-node-env-development",
        "env-trailing-whitespace",
        "env-missing-storage-secret",
        "env-malformed-smtp-url",
        "health-unhealthy",
        "canary-unhealthy",
        "health-db-down",
    ]
    assert {name: FAULTS[name].items for name in FAULTS if name.startswith(("sentry-", "alert-", "pagerduty-"))} == {
        "sentry-ingest-rejects": ("OBS-04",),
        "sentry-event-lost": ("OBS-04",),
        "alert-webhook-rejects": ("OBS-06",),
        "pagerduty-rejects": ("OBS-06",),
    }
    for name, fault in FAULTS.items():
        assert fault.name == name
        assert fault.items
        assert fault.description
    assert set(ENV_EDITS) <= set(FAULTS)


def test_unknown_fault_is_refused_with_the_known_names(sandbox):
    with pytest.raises(ValueError, match=r"unknown sandbox fault.*no-such-fault.*known faults: env-missing-node-env"):
        sandbox.set_faults(["no-such-fault"])
    with pytest.raises(ValueError, match="no-such-fault"):
        FaultState(["health-unhealthy", "no-such-fault"])


def test_fault_state_switches():
    state = FaultState(["health-unhealthy"])
    assert state.on("health-unhealthy")
    assert not state.on("canary-unhealthy")
    assert not state.on("not-registered")
    state.set(["canary-unhealthy"])
    assert state.active == frozenset({"canary-unhealthy"})


def test_health_unhealthy_fails_every_instance_only(https, env, switch):
    switch("health-unhealthy")
    assert _health(https, env) == dict.fromkeys(URL_KEYS, 503)
    body = https.get(env["GOLIVE_SANDBOX_INSTANCE_1_URL"] + "/api/health").json()
    assert body["status"] == "degraded"
    assert body["version"] in (env["GOLIVE_RELEASE_TAG"], "v1.3.2")  # before the deploy: the previous release
    assert _db_health(https, env) == ALL_OK
    switch()
    assert _health(https, env) == ALL_OK


def test_canary_unhealthy_fails_the_canary_only(https, env, switch):
    switch("canary-unhealthy")
    assert _health(https, env) == {**ALL_OK, "GOLIVE_SANDBOX_CANARY_URL": 503}
    assert _db_health(https, env) == ALL_OK
    switch()
    assert _health(https, env) == ALL_OK


def test_health_db_down_is_a_real_authentication_failure(https, env, switch):
    switch("health-db-down")
    assert _db_health(https, env) == dict.fromkeys(URL_KEYS, 503)
    answer = https.get(env["GOLIVE_SANDBOX_APP_URL"] + "/api/health/db")
    body = answer.json()
    assert body["status"] == "error"
    assert 'password authentication failed for user "app"' in body["database"]
    assert len(body["database"]) <= 200
    password = env["DATABASE_URL"].split(":")[2].split("@")[0]
    assert password not in answer.text
    assert _health(https, env) == ALL_OK
    switch()
    assert _db_health(https, env) == ALL_OK


@pytest.mark.parametrize("fault", list(ENV_EDITS))
def test_env_fault_changes_only_its_variables(sandbox, env, switch, fault):
    switch(fault)
    faulty = sandbox.environ()
    changed = {key for key in env.keys() | faulty.keys() if env.get(key) != faulty.get(key)}
    assert changed == set(ENV_EDITS[fault])
    for key, value in ENV_EDITS[fault].items():
        assert faulty.get(key) == (value(env) if callable(value) else value)
    switch()
    assert sandbox.environ() == env


def test_env_faults_do_not_touch_the_servers(https, env, switch):
    switch(*ENV_EDITS)
    assert _health(https, env) == ALL_OK
    assert _db_health(https, env) == ALL_OK
