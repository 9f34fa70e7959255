"""One cache root: ``MIGRATE_OPT_CACHE``, the deprecated ``MIGRATE_OPT_CACHE_DIR``, then the
user cache folder."""

import logging

from migrate_opt import cache_dir


def test_cache_root_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MIGRATE_OPT_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("MIGRATE_OPT_CACHE_DIR", str(tmp_path / "old"))
    assert cache_dir("semantle") == tmp_path / "c" / "semantle"
    assert (tmp_path / "c" / "semantle").is_dir()
    assert cache_dir("x", create=False) == tmp_path / "c" / "x"
    assert not (tmp_path / "c" / "x").exists()


def test_the_old_variable_is_read_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MIGRATE_OPT_CACHE", raising=False)
    monkeypatch.setenv("MIGRATE_OPT_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert cache_dir() == tmp_path
    assert "MIGRATE_OPT_CACHE_DIR is deprecated" in caplog.text


def test_default_is_the_user_cache_folder(tmp_path, monkeypatch):
    for name in ("MIGRATE_OPT_CACHE", "MIGRATE_OPT_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("models") == tmp_path / "migrate-opt" / "models"
