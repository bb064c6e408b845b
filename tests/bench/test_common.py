"""bench/common.py: the database URL every benchmark takes."""
from bench.common import absolute_database_url, parser


def test_a_relative_sqlite_path_is_taken_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = parser("test").parse_args(["--database-url", "sqlite:///data/1m.sqlite3"])
    assert options.database_url == f"sqlite:///{tmp_path}/data/1m.sqlite3"
    assert (tmp_path / "data").is_dir()  # created, so that SQLite can create the file


def test_other_urls_are_left_as_they_are():
    for url in ("postgresql://postgres@127.0.0.1:5432/bench_1m", "sqlite:////srv/bench.sqlite3", "sqlite://"):
        assert absolute_database_url(url) == url
