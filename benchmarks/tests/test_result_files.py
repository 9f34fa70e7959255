"""What a committed result records about where it was written."""

from pathlib import Path

from migrate_opt_bench.result_files import REPOSITORY, shown_path


def test_a_path_inside_the_repository_is_recorded_relative_to_it() -> None:
    inside = REPOSITORY / "benchmarks" / "results" / "x"
    assert shown_path(inside) == str(Path("benchmarks", "results", "x"))
    assert (REPOSITORY / "benchmarks" / "migrate_opt_bench" / "result_files.py").exists()


def test_a_path_outside_keeps_only_its_name(tmp_path: Path) -> None:
    assert shown_path(tmp_path / "run-7") == "run-7"
