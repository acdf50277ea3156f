from pathlib import Path

import pytest

from golive.config import (
    SEED_VARIABLES,
    ConfigError,
    Variables,
    load_environment,
    parse_environment,
    resolve_environment_path,
)

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = 'name = "x"\ntier = "{tier}"\n[app]\nbase_url = "https://app.example.com"\n'


def test_the_example_environment_loads():
    """environments/example.toml documents every section and must stay loadable (the sandbox's file is
    loaded by every end-to-end run)."""
    example = load_environment("example", ROOT, {})
    assert example.tier == "production"
    assert example.is_strict
    assert example.key_mode == "live"


def test_production_is_strict_and_live_by_default():
    env = parse_environment(MINIMAL.format(tier="production"), "p.toml", {})
    assert env.is_strict
    assert env.key_mode == "live"
    staging = parse_environment(MINIMAL.format(tier="staging"), "s.toml", {})
    assert not staging.is_strict
    assert staging.key_mode == "test"
    assert staging.variables.required == list(SEED_VARIABLES)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[http]\ntimeout_s = "soon"\n', "s.toml: http.timeout_s: Input should be a valid number"),
        ("[http]\ntimeout_s = -1\n", "s.toml: http.timeout_s: Input should be greater than 0"),
        ("[http]\ntimeotu_s = 3\n", "s.toml: http.timeotu_s: Extra inputs are not permitted"),
        ("[app2]\nx = 1\n", "s.toml: app2: Extra inputs are not permitted"),
        ('[sentry]\norg = "acme"\n', "s.toml: sentry: org and project must be set together"),
        ('[[credentials]]\nname = "smtp-url"\npurpose = "email"\n', "s.toml: credentials.0.name: String should match"),
    ],
)
def test_invalid_settings_name_the_key(extra, expected):
    with pytest.raises(ConfigError) as raised:
        parse_environment(MINIMAL.format(tier="staging") + extra, "s.toml", {})
    message = str(raised.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_malformed_url_names_the_key_not_a_traceback():
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "htps//nope"\n'
    with pytest.raises(ConfigError, match=r"^s.toml: app.base_url: Input should be a valid URL"):
        parse_environment(text, "s.toml", {})


def test_plain_http_base_url_is_refused_before_any_check_runs():
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "http://app.example.com"\n'
    with pytest.raises(ConfigError, match=r"^s.toml: app.base_url: expected the public https:// URL"):
        parse_environment(text, "s.toml", {})


def test_interpolation_names_the_missing_variable():
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "${APP_URL}"\n'
    with pytest.raises(ConfigError, match=r"^s.toml: app.base_url: refers to \$\{APP_URL\}, which is not set$"):
        parse_environment(text, "s.toml", {})
    env = parse_environment(text, "s.toml", {"APP_URL": "https://a.example.com"})
    assert str(env.app.base_url) == "https://a.example.com/"


def test_errors_never_show_the_value():
    text = 'name = "x"\ntier = "staging"\n[app]\nbase_url = "${APP_URL}"\n'
    planted = "https://user:Pl4ntedPassw0rd@[::bad"
    with pytest.raises(ConfigError) as raised:
        parse_environment(text, "s.toml", {"APP_URL": planted})
    assert "Pl4ntedPassw0rd" not in str(raised.value)


def test_not_toml_is_one_line():
    with pytest.raises(ConfigError, match=r"^s.toml: not valid TOML"):
        parse_environment("name = ", "s.toml", {})


def test_an_environment_file_that_is_not_text_is_one_line(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = '\xff'\n")
    with pytest.raises(ConfigError, match=r"binary.toml: not UTF-8 text \(invalid start byte at byte 8\)$"):
        load_environment(str(binary), ROOT, {})


def test_environment_reference_resolution(tmp_path):
    with pytest.raises(ConfigError, match=r"no environment file at .*nowhere.toml \(known: .*sandbox"):
        resolve_environment_path("nowhere", ROOT)
    with pytest.raises(ConfigError, match="expected an environment name or a path"):
        resolve_environment_path("bad name!", ROOT)
    custom = tmp_path / "mine.toml"
    custom.write_text(MINIMAL.format(tier="staging"))
    assert resolve_environment_path(str(custom), ROOT) == custom


def test_variables_keep_raw_values_and_mask_them():
    env = parse_environment(MINIMAL.format(tier="staging"), "s.toml", {})
    variables = Variables.read(env, {"RAZORPAY_KEY_SECRET": "abc \n", "NODE_ENV": "production", "UNRELATED": "x"})
    secret = variables.secret("RAZORPAY_KEY_SECRET")
    assert secret is not None
    assert secret.reveal() == "abc \n"
    assert variables.public("NODE_ENV") == "production"
    assert variables.secret("UNRELATED") is None
    assert not variables.present("DATABASE_URL")
    with pytest.raises(KeyError):
        variables.public("RAZORPAY_KEY_SECRET")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[variables]\nrequired = ["NODE_ENV"]\n',
            "variables.required: must keep the checklist's variables; missing DATABASE_URL",
        ),
        ("[health]\nexpect_body = {}\n", "health.expect_body: Dictionary should have at least 1 item"),
        ('[http]\nca_bundle = "pyproject.toml"\n', "http.ca_bundle: pyproject.toml is not a PEM certificate bundle"),
    ],
)
def test_settings_that_would_hollow_out_checks_are_refused(extra, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(ConfigError) as raised:
        parse_environment(MINIMAL.format(tier="production") + extra, "p.toml", {})
    assert str(raised.value).startswith(f"p.toml: {expected}"), str(raised.value)


def test_an_unreadable_ca_bundle_is_one_line(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.symlink_to("/proc/self/mem")  # a file whose every read fails (EIO), as a bundle without permission does
    with pytest.raises(ConfigError) as raised:
        parse_environment(MINIMAL.format(tier="staging") + f'[http]\nca_bundle = "{bundle}"\n', "s.toml", {})
    assert str(raised.value) == f"s.toml: http.ca_bundle: {bundle} cannot be read (Input/output error)"


@pytest.mark.parametrize("blank", ["by", "role"])
def test_an_attestation_must_name_a_person_and_a_role(blank):
    fields = {"by": '"Priya Nair"', "role": '"payments lead"', "on": "2026-11-20", blank: '" "'}
    table = "".join(f"{key} = {value}\n" for key, value in fields.items())
    with pytest.raises(ConfigError) as raised:
        parse_environment(MINIMAL.format(tier="staging") + "[razorpay.webhook_attestation]\n" + table, "s.toml", {})
    assert str(raised.value) == f"s.toml: razorpay.webhook_attestation.{blank}: String should match pattern '\\S'"


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer"])
def test_production_requires_an_encrypted_database_connection(sslmode):
    text = 'name = "prod"\ntier = "production"\n[app]\nbase_url = "https://app.example.com"\n[database]\n'
    with pytest.raises(ConfigError) as caught:
        parse_environment(text + f'min_sslmode = "{sslmode}"', "prod.toml", {})
    assert str(caught.value) == (
        f"prod.toml: database: min_sslmode = '{sslmode}' would let production's DATABASE_URL go unencrypted; "
        "expected require, verify-ca or verify-full"
    )
    staging = text.replace('tier = "production"', 'tier = "staging"')
    assert parse_environment(staging + f'min_sslmode = "{sslmode}"', "s.toml", {}).database.min_sslmode == sslmode
    assert parse_environment(text + 'min_sslmode = "require"', "prod.toml", {}).database.min_sslmode == "require"


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ('url = "http://registry.example.com"\nrepository = "acme/web-app"\n',
         "r.toml: release.registry.url: expected an https:// URL (REGISTRY_TOKEN is sent to it), got http://"),
        ('url = "https://registry.example.com"\nrepository = "Acme/Web App"\n',
         "r.toml: release.registry.repository: 'Acme/Web App' is not an OCI repository name (lowercase path "
         "components: acme/web-app)"),
        ('url = "https://registry.example.com"\n', "r.toml: release.registry.repository: Field required"),
    ],
)  # fmt: skip
def test_the_registry_settings_are_refused_in_one_line_naming_the_key(registry, expected):
    text = MINIMAL.format(tier="production") + "[release.registry]\n" + registry
    with pytest.raises(ConfigError) as refused:
        parse_environment(text, "r.toml", {})
    assert str(refused.value) == expected
    good = parse_environment(MINIMAL.format(tier="production") + '[release.registry]\nurl = "https://r.example"\n'
                             'repository = "acme/web-app"\n', "r.toml", {})  # fmt: skip
    assert (good.release.registry.repository, good.release.registry.username) == ("acme/web-app", None)


@pytest.mark.parametrize(
    ("section", "expected"),
    [('[ci]\ngitlab_url = "http://gitlab.example.com"\nproject = "acme/web-app"\n',
      "c.toml: ci.gitlab_url: expected an https:// URL (GITLAB_API_TOKEN is sent to it), got http://"),
     ('[cdn.purge]\nprovider = "cloudflare"\napi_url = "http://api.cloudflare.com"\n',
      "c.toml: cdn.purge.api_url: expected an https:// URL (CDN_API_TOKEN is sent to it), got http://")],
)  # fmt: skip
def test_urls_a_token_is_sent_to_must_be_https(section, expected):
    with pytest.raises(ConfigError) as refused:
        parse_environment(MINIMAL.format(tier="staging") + section, "c.toml", {})
    assert str(refused.value) == expected
    https = parse_environment(MINIMAL.format(tier="staging") + section.replace("http://", "https://"), "c.toml", {})
    assert str(https.ci.gitlab_url or https.cdn.purge.api_url).startswith("https://")
