"""Finding and normalising the program in a completion."""

from __future__ import annotations

from migrate_opt_arc.programs import extract_program, normalize_program, render_program


def test_last_block_defining_transform_wins() -> None:
    text = ("```python\ndef transform(g):\n    return 1\n```\nthen\n"
            "```python\ndef transform(g):\n    return 2\n```\nusage:\n```python\nprint(x)\n```")
    assert extract_program(text) == "def transform(g):\n    return 2\n"


def test_plain_and_unclosed_fences() -> None:
    assert extract_program("```\ndef transform(g): return g\n```") == (
        "def transform(g): return g\n")
    assert extract_program("Sure!\n```python\ndef transform(g):\n    return g") == (
        "def transform(g):\n    return g")
    assert extract_program("no code at all, def transform is mentioned") is None


def test_unfenced_code_is_taken_up_to_the_prose() -> None:
    text = ("Let me think.\nimport numpy as np\ndef transform(grid):\n    x = 1\n\n"
            "    return grid\n\ndef helper():\n    pass\nThis flips the grid.\nMore.")
    assert extract_program(text) == (
        "import numpy as np\ndef transform(grid):\n    x = 1\n\n    return grid\n\n"
        "def helper():\n    pass")


def test_normalisation_drops_formatting_and_comments() -> None:
    a = normalize_program("def transform(g):   # flip\n    return g[::-1]\n\n\n")
    b = normalize_program("def transform(g):\n    return g[:: -1]")
    assert a == b == "def transform(g):\n    return g[::-1]"
    assert normalize_program(a) == a  # type: ignore[arg-type]


def test_invalid_programs_have_no_canonical_form() -> None:
    assert normalize_program("def transform(g) return g") is None
    assert normalize_program("def f(g):\n    return g\ndef h(g):\n    return g") is None
    assert normalize_program("x = 1") is None
    assert normalize_program("def transform(g):\n    return " + "(" * 500 + ")" * 500) is None
    assert normalize_program("# " + "x" * 30_000 + "\ndef transform(g): return g") is None


def test_render_round_trips() -> None:
    program = "def transform(g):\n    return g"
    assert extract_program(render_program(program)) == program + "\n"


def test_a_lone_entry_function_with_another_name_is_aliased() -> None:
    aliased = normalize_program("def transform_grid(g):\n    return g")
    assert aliased == "def transform_grid(g):\n    return g\ntransform = transform_grid"
    # Helpers beside it are fine: the one name starting with "transform" is the entry.
    helper = "def flip(g):\n    return g[::-1]\ndef transform_it(g):\n    return flip(g)"
    assert normalize_program(helper).endswith("transform = transform_it")
    assert normalize_program("def solve(g):\n    return g").endswith("transform = solve")
    # Unfenced, as small models write it: found by its def line.
    text = "Here it is:\ndef transform_grid(g):\n    return g\nThis flips nothing."
    assert extract_program(text) == "def transform_grid(g):\n    return g"
