"""Friendly syntax errors (dsl/syntax_errors.py): every row of COMMON_MISTAKES, and generic ones."""

from __future__ import annotations

import pytest

from cramnet.compiler import check_spec
from cramnet.dsl import SpecErrors, parse
from cramnet.dsl.common_mistakes import COMMON_MISTAKES

ROWS = [
    pytest.param(message, hint, snippet, id=f"row{row}-{i}")
    for row, (message, hint, snippets) in enumerate(COMMON_MISTAKES)
    for i, snippet in enumerate(snippets)
]


def syntax_error(source: str):
    with pytest.raises(SpecErrors) as caught:
        parse(source, "bad.cram")
    (error,) = caught.value.errors
    return error


@pytest.mark.parametrize("message, hint, snippet", ROWS)
def test_every_common_mistake_gets_its_message(message, hint, snippet):
    error = syntax_error(snippet)
    assert (error.code, error.message, error.hint) == ("E101", message, hint)
    assert error.span.file == "bad.cram"
    line_count = len(snippet.splitlines())
    assert 1 <= error.span.line <= line_count
    assert error.span.col >= 1


def test_the_table_is_well_formed():
    messages = [message for message, _, _ in COMMON_MISTAKES]
    assert len(set(messages)) == len(messages)
    assert all(snippets and hint for _, hint, snippets in COMMON_MISTAKES)


@pytest.mark.parametrize(
    "snippet, line, col",
    [
        ("model m {\n    x > relu\n}", 2, 7),
        ("model m {\n    x -> dense(2))\n}", 2, 18),
        ("model m {\n    x -> conv2d(16 3)\n}", 2, 20),
        ("model m {\n    x -> dense(10, bias: false)\n}", 2, 24),
        ("model m {\n    x -> conv2d(out = 16, 3)\n}", 2, 27),
        ("block b {\n    relu\n}", 1, 9),
    ],
)
def test_common_mistakes_point_at_the_culprit(snippet, line, col):
    error = syntax_error(snippet)
    assert error.code == "E101"
    assert (error.span.line, error.span.col) == (line, col)


@pytest.mark.parametrize(
    "snippet, message, line, col",
    [
        ("let a = 1\nmodel m {\n    input x: [2]\n    x > relu\n}", "a pipeline joins stages", 4, 7),
        (
            "block b() {\n    relu\n}\nmodel m {\n    x -> residual {\n        dense(3 4)\n    }\n}",
            "without a comma",
            6,
            17,
        ),
        ("model m {\n    input x: [2]\n    h = x -> relu\n    h -> dense(4, bias: false)\n}", "uses '='", 4, 23),
        ("model m {\n    x -> dense(2 4)\n}", "without a comma", 2, 18),
    ],
)
def test_common_mistakes_are_recognised_in_any_statement_of_any_body(snippet, message, line, col):
    error = syntax_error(snippet)
    assert error.code == "E101" and message in error.message
    assert (error.span.line, error.span.col) == (line, col)


def test_an_unclosed_body_points_at_the_end_of_the_file():
    error = syntax_error("model m {\n    input x: [2]\n    x -> relu as y")
    assert error.code == "E101" and "unclosed '{'" in error.message
    assert (error.span.line, error.span.col) == (3, 19)


@pytest.mark.parametrize(
    "snippet, line, col, message, hint",
    [
        ("model m {\n    x -> dense(3) @ relu\n}\n", 2, 19, "unexpected character '@'", None),
        ("model m {\n    x -> relu $\n}\n", 2, 15, "unexpected character '$'", None),
        ("model 3 {\n}\n", 1, 7, "unexpected integer '3'", "a name"),
        ("model m {\n  input x: [2]\n}\n}\n", 4, 1, "unexpected '}'", "'model'"),
        ("model m {\n  output\n}\n", 2, 9, "unexpected end of line", "a name"),
        ("model m {\n  x -> residual relu\n}", 2, 17, "unexpected name 'relu'", "'{'"),
        ("model m {\n  x -> repeat { relu }\n}", 2, 15, "unexpected '{'", "an integer"),
        ("let x = [1, 2\n", 1, 14, "unexpected end of file", "']'"),
        ("model m {\n  x -> dense(1,,2)\n}", 2, 16, "unexpected ','", "')'"),
        ('use "a" "b"\n', 1, 9, 'unexpected string "b"', "'use'"),
        ("let d = 2 3\n", 1, 11, "unexpected integer '3'", "'+'"),
    ],
)
def test_generic_syntax_errors(snippet, line, col, message, hint):
    error = syntax_error(snippet)
    assert error.code == "E100"
    assert (error.span.line, error.span.col) == (line, col)
    assert error.message == message
    if hint is None:
        assert error.hint is None
    else:
        assert error.hint.startswith("expected ") and hint in error.hint


def test_hints_name_tokens_not_terminals():
    error = syntax_error("let d = 2 3\n")
    assert not any(word in error.hint for word in ("PLUS", "plus", "MINUS", "minus", "__ANON"))


def test_a_stray_character_after_a_stage_is_not_read_as_a_misspelt_arrow():
    # Lark's match_examples matches on the parser state only; `$` there must not claim to be `>`.
    assert syntax_error("model m {\n    x -> relu $\n}").code == "E100"
    assert syntax_error("model m {\n    x -> relu > dense(2)\n}").code == "E101"


def test_check_spec_reports_syntax_errors_with_the_source_line():
    with pytest.raises(SpecErrors) as caught:
        check_spec("model m {\n    input x: [4]\n    x -> dense(3) ) as y\n    output y\n}\n")
    (error,) = caught.value.errors
    assert (error.code, error.span.line, error.span.col) == ("E101", 3, 19)
    text = str(caught.value)
    assert "<spec>:3:19: error[E101]" in text
    assert "    x -> dense(3) ) as y" in text
    assert "\n    | " + " " * 18 + "^\n" in text


def test_a_syntax_error_in_a_used_file_names_that_file(tmp_path):
    (tmp_path / "lib.cram").write_text("block b(d) {\n    dense(d\n}\n")
    main = tmp_path / "main.cram"
    main.write_text('use "lib.cram"\nmodel m {\n    input x: [2]\n    x -> b(3) as y\n    output y\n}\n')
    with pytest.raises(SpecErrors) as caught:
        check_spec(main)
    (error,) = caught.value.errors
    assert error.code == "E101" and error.span.file.endswith("lib.cram")
    assert (error.span.line, error.span.col) == (2, 10)  # the '(' left open
    assert "lib.cram:2:10" in str(caught.value)


@pytest.mark.parametrize(
    "snippet, first",
    [
        ("model m {\n    input x: [4 }\n", "expected ']', ',', '+', '-', '*', '/', '%'"),  # `}` where `]` was due
        ("let d = dense(3, [1, 2)\n", "expected ']', ','"),  # the innermost bracket's closer first
        ('let d = f([1, 2], "(" # ( [\n', "expected ')'"),  # brackets in strings and comments do not count
        ("let d = 2 +\n", "expected a name, an integer, a number, a string"),  # a value before a keyword
    ],
)
def test_expected_tokens_are_listed_likeliest_first(snippet, first):
    assert syntax_error(snippet).hint.startswith(first)


def test_check_and_fmt_give_the_same_ordered_hint(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    spec = tmp_path / "m.cram"
    spec.write_text("model m {\n    input x: [4 }\n")
    for command in ("check", "fmt"):
        result = CliRunner().invoke(app, [command, str(spec)])
        assert result.exit_code == 1 and "  hint: expected ']', ','" in result.output, result.output
