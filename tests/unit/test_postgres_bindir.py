"""Where the sandbox finds PostgreSQL's server programs on a Debian machine without pg_config."""

from golive.sandbox.postgres import debian_bindirs


def test_newest_debian_server_first_and_nothing_older_than_15(tmp_path):
    for version in ("13", "15", "17", "16", "extra"):
        (tmp_path / version / "bin").mkdir(parents=True)
    assert debian_bindirs(tmp_path) == [tmp_path / v / "bin" for v in ("17", "16", "15")]


def test_no_debian_tree_means_no_candidates(tmp_path):
    assert debian_bindirs(tmp_path / "absent") == []
