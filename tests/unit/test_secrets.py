import base64
import json
from html import escape
from urllib.parse import quote

import pytest

from golive.secrets import MASK, Secret, SecretRegistry, password_misread, url_secrets

PLANTED = 'Pl4nted/Secret+Value=42&"q"\\'  # characters every encoding changes


def registry_with(*values: str) -> SecretRegistry:
    registry = SecretRegistry()
    for n, value in enumerate(values):
        registry.add(f"VAR_{n}", value)
    return registry


def test_secret_is_masked_everywhere_it_could_be_printed():
    secret = Secret("RAZORPAY_KEY_SECRET", PLANTED)
    rendered = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", repr([secret])]
    assert all(PLANTED not in text for text in rendered)
    assert MASK in str(secret)
    assert secret.reveal() == PLANTED


def test_secret_equality_compares_values_not_reprs():
    assert Secret("A", "x" * 20) == Secret("B", "x" * 20)
    assert Secret("A", "x" * 20) != Secret("A", "y" * 20)


def test_secret_refuses_to_be_pickled():
    import pickle

    with pytest.raises(TypeError, match="not serialisable"):
        pickle.dumps(Secret("A", PLANTED))


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("postgresql://app:Sup3r%40S3cretPw@db.internal:5432/app", {"Sup3r%40S3cretPw", "Sup3r@S3cretPw"}),
        ("smtps://golive-mailer:pw12345678@mail:465", {"pw12345678"}),
        ("https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/4501", {"0123456789abcdef0123456789abcdef"}),
        ("https://[hooks.slack.com/services/T0/B0/SECRETTOKENabc12345", {"SECRETTOKENabc12345"}),
        ("not a url", set()),
    ],
)
def test_url_parts_that_are_secret_on_their_own(url, parts):
    assert url_secrets(url) == parts


@pytest.mark.parametrize(
    ("url", "readings"),
    [
        # libpq splits at the first '@' (its host becomes "Pass@db.internal"), URL parsers at the last
        ("postgresql://app:Sup3rS3cret@Pass@db.internal/app", {"Sup3rS3cret", "Sup3rS3cret@Pass"}),
        # a '/' ends libpq's user part: no password for libpq or urlsplit, port "Sup3rS3cret", database "Pass@..."
        ("postgresql://app:Sup3rS3cret/Pass@db.internal/app", {"Sup3rS3cret/Pass"}),
        # libpq reads it whole, urlsplit stops at the '#': it sees no password at all
        ("postgresql://app:Sup3rS3cret#Pass@db.internal/app", {"Sup3rS3cret#Pass"}),
    ],
)
def test_every_reading_of_a_misencoded_database_password_is_secret(url, readings):
    assert readings <= url_secrets(url)
    assert password_misread(url)
    registry = registry_with(url)
    for reading in readings:
        assert reading not in registry.scrub(f"connection to {reading} failed")


@pytest.mark.parametrize(
    "url",
    ["postgresql://app:Sup3r%40S3cret@db.internal/app", "postgresql://app:pa:ss@db/app?application_name=a@b",
     "postgresql://db.internal/app", "https://user:p@ss@example.com/"],
)  # fmt: skip
def test_a_well_encoded_url_is_read_alike(url):
    assert not password_misread(url)


def test_url_password_is_registered_on_its_own():
    url = "postgresql://app:Sup3rS3cretPw@db.internal:5432/app"
    registry = registry_with(url)
    assert registry.scan_text("auth failed for Sup3rS3cretPw", "log")
    assert "Sup3rS3cretPw" not in registry.scrub("password was Sup3rS3cretPw")


@pytest.mark.parametrize(
    "encode",
    [
        lambda v: v,
        lambda v: quote(v, safe=""),
        lambda v: escape(v),
        lambda v: json.dumps(v)[1:-1],
        lambda v: escape(json.dumps(v)[1:-1]),
    ],
    ids=["plain", "url", "html", "json", "json-in-html"],
)
def test_scrub_removes_plain_and_encoded_forms(encode):
    registry = registry_with(PLANTED)
    text = f"before {encode(PLANTED)} after"
    scrubbed = registry.scrub(text)
    assert encode(PLANTED) not in scrubbed
    assert "[VAR_0 ****]" in scrubbed


@pytest.mark.parametrize("offset", range(6))
def test_base64_inside_a_larger_blob_is_found_at_any_offset(offset):
    registry = registry_with(PLANTED)
    blob = base64.b64encode(b"x" * offset + f'{{"key": "{PLANTED}"}}'.encode() + b"tail").decode()
    leaks = registry.scan_text(f"data:application/json;base64,{blob}", "report.html")
    assert [(leak.secret, leak.encoding) for leak in leaks] == [("VAR_0", "base64")]


def test_urlsafe_base64_is_found():
    registry = registry_with(PLANTED)
    blob = base64.urlsafe_b64encode(b"prefix-" + PLANTED.encode()).decode()
    assert registry.scan_text(blob, "x")


def test_leak_description_never_contains_the_value():
    registry = registry_with(PLANTED)
    leaks = registry.scan_text(PLANTED, "reports/preflight.json")
    assert leaks
    assert all(PLANTED not in str(leak) for leak in leaks)
    assert "VAR_0" in str(leaks[0])


def test_short_values_are_not_scanned_for():
    registry = registry_with("prod")
    assert registry.scan_text("production", "x") == []


def test_scan_files_reads_escaped_html_and_json(tmp_path):
    registry = registry_with(PLANTED)
    page = tmp_path / "r.html"
    page.write_text(json.dumps({"v": PLANTED}).replace("/", "\\/"), encoding="utf-8")
    assert registry.scan_files([page])


def test_clean_text_has_no_leaks():
    registry = registry_with(PLANTED)
    assert registry.scan_text("nothing to see " * 100, "x") == []
