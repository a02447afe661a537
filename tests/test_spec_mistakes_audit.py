"""Spec mistakes a user makes, reported once, at the right place, with a hint that fits (an audit of
`cramnet check`): each test is a mistake that used to get a wrong or misleading report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.dsl.errors import SpecError, SpecErrors

runner = CliRunner()


def only_error(source: str) -> SpecError:
    with pytest.raises(SpecErrors) as caught:
        check_spec(source)
    errors = caught.value.errors
    assert len(errors) == 1, "\n".join(f"{e.code} {e.span}: {e.message}" for e in errors)
    return errors[0]


def at(error: SpecError) -> tuple[int, int]:
    assert error.span is not None, error
    return error.span.line, error.span.col


def model(*body: str) -> str:
    return "model m {\n" + "\n".join("    " + line for line in body) + "\n}\n"


def check_output(tmp_path: Path, source: str) -> str:
    """What `cramnet check` prints for `source`, which it must refuse as a spec mistake."""
    spec = tmp_path / "spec.cram"
    spec.write_text(source)
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.output


# -- a shared repeat whose copies change the shape -------------------------------------------------


def test_a_shared_repeat_that_changes_the_shape_is_one_error_in_the_users_words(tmp_path):
    error = only_error(model("input x: [4]", "x -> dense(8) * 3 shared as y", "output y"))
    assert (error.code, at(error)) == ("E231", (3, 10))
    assert "[4]" in error.message and "[8]" in error.message
    assert "dense_1" not in error.message and "Linear(" not in (error.hint or "")
    output = check_output(tmp_path, model("input x: [4]", "x -> dense(8) * 3 shared as y", "output y"))
    assert "1 error" in output


def test_a_shared_repeat_body_that_changes_the_shape_names_no_internal_node():
    source = "block f(d) { dense(d) -> relu }\n" + model(
        "input x: [4]", "x -> repeat 2 shared { f(8) } as y", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E231", (4, 10))
    assert "f_2" not in error.message and "dense_1" not in error.message
    assert "Linear(" not in (error.hint or "")


# -- duplicate names -------------------------------------------------------------------------------


def test_a_block_parameter_listed_twice_is_an_error():
    error = only_error("block f(d, d) { dense(d) }\n" + model("input x: [4]", "x -> f(4, 4) as y", "output y"))
    assert (error.code, at(error)) == ("E203", (1, 12))
    assert "'d'" in error.message


def test_a_let_cycle_is_one_error():
    error = only_error("let a = b + 1\nlet b = a * 2\n" + model("input x: [4]", "x -> dense(a) as y", "output y"))
    assert (error.code, at(error)) == ("E215", (1, 1))
    assert "a -> b -> a" in error.message


# -- syntax: brackets left open before the next line ---------------------------------------------


def test_an_argument_list_left_open_is_reported_where_it_opens(tmp_path):
    source = model("input x: [4]", "a = x -> dense(2", "b = x -> relu", "add(a, b) as y", "output y")
    error = only_error(source)
    assert error.code == "E101"
    assert error.message == "unclosed '(' in an argument list"
    assert at(error) == (3, 19)
    assert "a = x -> dense(2" in check_output(tmp_path, source)


def test_a_shape_left_open_is_reported_where_it_opens():
    error = only_error(model("input x: [4, 4", "x -> relu as y", "output y"))
    assert error.code == "E101"
    assert "unclosed '['" in error.message
    assert at(error) == (2, 14)


def test_a_missing_comma_across_lines_is_still_a_missing_comma():
    error = only_error(model("input x: [1, 8, 8]", "x -> conv2d(16", "    3) as y", "output y"))
    assert error.message == "two arguments without a comma between them"
    assert at(error) == (4, 9)


# -- syntax: what stands where a stage should ------------------------------------------------------


@pytest.mark.parametrize("stage, found", [("3", "integer '3'"), ('"é"', 'string "é"')])
def test_a_value_where_a_stage_should_be_is_not_a_dangling_arrow(stage, found):
    error = only_error(model("input x: [4]", f"x -> dense(3) -> {stage} -> relu as y", "output y"))
    assert error.code == "E100"
    assert "dangling" not in error.message
    assert found in error.message
    assert at(error) == (3, 22)


def test_repeat_with_a_fractional_count_says_the_count_must_be_whole():
    error = only_error(model("input x: [4]", "x -> repeat 2.5 { dense(4) } as y", "output y"))
    assert error.code == "E101"
    assert "repeat" in error.message and "count" in error.message
    assert at(error) == (3, 18)  # the '.5' the count cannot take


# -- syntax: misspelled or misplaced keywords -----------------------------------------------------


@pytest.mark.parametrize(
    "line, word, keyword",
    [("inptu x: [4]", "inptu", "input"), ("ouput y", "ouput", "output"), ("outptu y", "outptu", "output")],
)
def test_a_misspelled_statement_keyword_is_named_with_a_suggestion(line, word, keyword):
    body = ["input x: [4]", "x -> relu as y", "output y"]
    body[0 if keyword == "input" else 2] = line
    error = only_error(model(*body))
    assert error.code == "E101"
    assert f"'{word}'" in error.message
    assert f"did you mean '{keyword}'?" in error.hint
    assert at(error) == (2 if keyword == "input" else 4, 5)


@pytest.mark.parametrize("word", ["modle", "mdoel", "blokc", "lett"])
def test_a_misspelled_declaration_keyword_gets_a_suggestion(word):
    keyword = {"modle": "model", "mdoel": "model", "blokc": "block", "lett": "let"}[word]
    error = only_error(f"{word} m {{\n}}\n")
    assert at(error) == (1, 1)
    assert f"did you mean '{keyword}'?" in error.hint


@pytest.mark.parametrize("line, keyword", [("let d = 4", "let"), ("block f() { relu }", "block")])
def test_a_declaration_inside_a_model_says_it_belongs_at_the_top(line, keyword):
    error = only_error(model("input x: [4]", line, "x -> relu as y", "output y"))
    assert error.code == "E101"
    assert f"`{keyword}`" in error.message and "top level" in error.message
    assert at(error) == (3, 5)


def test_a_non_ascii_letter_in_a_name_gets_a_hint():
    error = only_error(model("input x: [4]", "x -> relu as ŷ", "output ŷ"))
    assert error.code == "E100"
    assert at(error) == (3, 18)
    assert error.hint is not None and "ASCII" in error.hint


@pytest.mark.parametrize(
    "stage, word, keyword",
    [("residul { relu }", "residul", "residual"), ("repat 2 { relu }", "repat", "repeat")],
)
def test_a_misspelt_combinator_is_named_with_a_suggestion(stage, word, keyword):
    error = only_error(model("input x: [4]", f"x -> {stage} as y", "output y"))
    assert (error.code, error.message, at(error)) == ("E101", f"unknown keyword '{word}'", (3, 10))
    assert error.hint == f"did you mean '{keyword}'?"


def test_a_misspelt_shared_after_a_count_is_not_a_missing_count():
    error = only_error(model("input x: [4]", "x -> dense(4) * 3 shraed as y", "output y"))
    assert "count" not in error.message
    assert at(error) == (3, 23)
    assert error.hint == "did you mean 'shared'?"


def test_a_lookalike_arrow_says_what_to_type():
    error = only_error(model("input x: [4]", "x → relu as y", "output y"))
    assert at(error) == (3, 7)
    assert error.hint == "write '->' instead"


# -- values: where a name was written, how a value is shown ----------------------------------------


def test_an_unbound_name_passed_to_a_block_is_reported_where_it_is_passed():
    source = "block xattn(heads, memory) {\n    cross_attention(heads, memory = memory)\n}\n" + model(
        "input x: [seq, 8]", "input mem: [n, 8]", "x -> xattn(2, memory = mme) as y", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E205", (7, 28))
    assert error.hint == "did you mean 'mem'?"


def test_a_boolean_repeat_count_is_shown_as_the_spec_writes_it():
    error = only_error("let n = true\n" + model("input x: [4]", "x -> dense(4) * n as y", "output y"))
    assert error.code == "E304"
    assert error.message == "a repeat count must be an integer, got true"


def test_sharing_between_calls_with_other_arguments_names_the_arguments_that_differ():
    error = only_error(
        model("input x: [4]", "x -> dense(8) as a", "y = x -> dense(8, bias = false, share = a)", "output y")
    )
    assert (error.code, at(error)) == ("E231", (4, 14))
    assert "None" not in error.hint
    assert "bias = false" in error.hint and "bias = true" in error.hint
    assert "out = 8" not in error.hint  # the same on both sides: not what is wrong


def test_sharing_a_user_blocks_weights_names_the_value_written_not_an_internal_node():
    source = "block f(d, p = 1) { dense(d) -> relu }\n" + model(
        "input x: [4]", "x -> f(8) as a", "y = a -> f(8, p = 2, share = a)", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E231", (5, 14))
    assert error.message == "share: this f call cannot use the weights of 'a'"
    assert "f(p = 2) vs f(p = 1)" in error.hint


@pytest.mark.parametrize("stage", ["dense(4) * n + 1", "dense(4) * n - 1", "dense(4) * 2 * n"])
def test_a_repeat_count_expression_without_parentheses_says_to_add_them(stage):
    error = only_error("let n = 2\n" + model("input x: [4]", f"x -> {stage} as y", "output y"))
    assert error.code == "E101"
    assert "parenthes" in error.message
    assert error.hint == "write `layer * (n + 1)`"
    assert at(error) == (4, 23)


# -- what a file holds: wide characters, a byte-order mark ------------------------------------------


def test_the_caret_stays_under_the_culprit_after_wide_characters(tmp_path):
    source = model("input x: [1, 8, 8]", 'x -> conv2d(4, 3, pad = "中文") -> desne(2) as y', "output y")
    output = check_output(tmp_path, source)
    lines = output.splitlines()
    shown = next(i for i, line in enumerate(lines) if "desne(2)" in line and "| " in line and "E204" in lines[i - 2])
    source_line, carets = lines[shown], lines[shown + 1]
    before = source_line[: source_line.index("desne")]
    columns = len(before) + sum(1 for char in before if char in "中文")  # each takes two columns of a terminal
    assert carets.index("^") == columns, output


def test_a_file_with_a_byte_order_mark_is_read(tmp_path):
    spec = tmp_path / "bom.cram"
    spec.write_bytes("\ufeff".encode() + model("input x: [4]", "x -> desne(3) as y", "output y").encode())
    with pytest.raises(SpecErrors) as caught:
        check_spec(spec)
    (error,) = caught.value.errors
    assert (error.code, at(error)) == ("E204", (3, 10))


def test_binding_in_says_in_is_the_bodys_input():
    error = only_error("block f() {\n    in = relu\n    in\n}\n" + model("input x: [4]", "x -> f as y", "output y"))
    assert error.code == "E101"
    assert "`in`" in error.message
    assert at(error) == (2, 8)


def test_a_graph_type_with_malformed_edges_is_one_error():
    error = only_error(model("input g: graph[n, 4, edges = 3]", "g -> gcn(4) as y", "output y"))
    assert (error.code, at(error)) == ("E304", (2, 34))


@pytest.mark.parametrize(
    "call, word, col",
    [
        ("dense(4, bias = True)", "true", 26),
        ("dense(4, bias=False)", "false", 24),
        ("dense(4, tie = None)", "none", 25),
    ],
)
def test_python_capitals_for_true_false_none_suggest_the_languages_words(call, word, col):
    error = only_error(model("input x: [4]", f"x -> {call} as y", "output y"))
    assert at(error) == (3, col)
    assert error.hint.startswith(f"did you mean '{word}'?")


def test_a_body_left_open_before_the_next_declaration_is_an_unclosed_brace():
    source = "block f(d) {\n    dense(d) -> relu\n\n" + model("input x: [4]", "x -> f(4) as y", "output y")
    error = only_error(source)
    assert error.code == "E101"
    assert error.message.startswith("unclosed '{'")
    assert at(error) == (1, 12)


def test_a_string_left_open_in_an_argument_is_a_missing_quote():
    error = only_error(model("input x: [1, 8, 8]", 'x -> conv2d(4, 3, pad = "same) as y', "output y"))
    assert (error.code, error.message, at(error)) == ("E101", "a string is missing its closing quote", (3, 29))


@pytest.mark.parametrize(
    "line, col, hint",
    [
        ("x -> dense(4; bias = false) as y", 17, "','"),
        ("x -> dense(4) as y;", 23, "line"),
    ],
)
def test_a_semicolon_gets_a_hint(line, col, hint):
    error = only_error(model("input x: [4]", line, "output y"))
    assert at(error) == (3, col)
    assert error.hint is not None and hint in error.hint


def test_single_quotes_say_strings_use_double_quotes():
    error = only_error("use 'std:ffn'\n" + model("input x: [4]", "x -> relu as y", "output y"))
    assert at(error) == (1, 5)
    assert error.hint is not None and "double quotes" in error.hint


# -- a name bound, but not where it is used ---------------------------------------------------------


def test_a_name_used_before_the_line_that_binds_it_says_so():
    error = only_error(model("input x: [4]", "y = h -> relu", "h = x -> relu", "output y"))
    assert at(error) == (3, 9)
    assert "cramnet blocks" not in error.hint
    assert "line 4" in error.hint and "before" in error.hint


def test_a_tie_to_an_embedding_bound_later_says_so():
    error = only_error(
        model(
            "input ids: tokens[seq]",
            "ids -> embed(100, 16) -> dense(100, tie = tok) as y",
            "ids -> embed(100, 16) as tok",
            "output y",
        )
    )
    assert at(error) == (3, 47)
    assert "line 4" in error.hint


def test_a_name_bound_inside_a_body_and_used_outside_says_bodies_keep_their_names():
    source = model("input x: [4]", "x -> residual { h = in -> dense(4)", "    h } as y", "add(y, h) as z", "output z")
    error = only_error(source)
    assert at(error) == (5, 12)
    assert "line 3" in error.hint and "body" in error.hint


def test_an_output_bound_inside_a_body_says_bodies_keep_their_names():
    source = model("input x: [4]", "x -> residual { h = in -> dense(4)", "    h } as y", "output y, h")
    error = only_error(source)
    assert (error.code, at(error)) == ("E209", (5, 15))
    assert "line 3" in error.hint and "body" in error.hint


# -- a mistake inside a block, caused by its call ---------------------------------------------------


def test_a_shape_error_inside_a_library_block_points_at_the_users_call_too():
    source = 'use "std:transformer"\n' + model("input x: [seq, 64]", "x -> pre_ln(64, 5, 256) as y", "output y")
    error = only_error(source)
    assert error.code == "E401" and error.span.file.endswith("transformer.cram")
    call_sites = [span for span, _ in error.notes if span.file == "<spec>"]
    assert [(span.line, span.col) for span in call_sites] == [(4, 10)]


def test_an_argument_error_inside_a_block_points_at_the_call_that_passed_it():
    source = "block f(d) { dense(d) }\n" + model("input x: [4]", "x -> f(0) as y", "output y")
    error = only_error(source)
    assert (error.code, at(error)) == ("E305", (1, 20))
    assert [(span.line, span.col) for span, _ in error.notes] == [(4, 10)]


def test_the_same_mistake_in_a_block_called_twice_is_reported_once():
    source = "block f(d) { desne(d) }\n" + model("input x: [4]", "x -> f(4) -> f(4) as y", "output y")
    error = only_error(source)
    assert (error.code, at(error)) == ("E204", (1, 14))


# -- use ---------------------------------------------------------------------------------------------


def test_a_file_used_twice_is_not_a_clash_with_itself(tmp_path):
    spec = tmp_path / "spec.cram"
    spec.write_text(
        'use "std:transformer"\nuse "std:transformer"\n'
        + model("input x: [seq, 8]", "x -> pre_ln(8, 2, 16) as y", "output y")
    )
    assert check_spec(spec).name == "m"


def test_a_file_that_uses_itself_says_so(tmp_path):
    spec = tmp_path / "spec.cram"
    spec.write_text('use "spec.cram"\n' + model("input x: [4]", "x -> relu as y", "output y"))
    with pytest.raises(SpecErrors) as caught:
        check_spec(spec)
    (error,) = caught.value.errors
    assert error.code == "E202" and "third file" not in error.hint
    assert "itself" in error.message or "itself" in error.hint


def test_a_used_file_missing_by_absolute_path_is_not_told_paths_are_relative(tmp_path):
    missing = tmp_path / "nowhere" / "blocks.cram"
    error = only_error(f'use "{missing}"\n' + model("input x: [4]", "x -> relu as y", "output y"))
    assert error.code == "E201"
    assert "relative" not in error.hint


@pytest.mark.parametrize("word", ["repeat", "residual", "output"])
def test_a_keyword_used_as_a_binding_name_says_it_is_a_keyword(word):
    error = only_error(model("input x: [4]", f"{word} = x -> relu", f"{word} -> tanh as y", "output y"))
    assert error.code == "E101"
    assert f"'{word}'" in error.message and "keyword" in error.message
    assert at(error) == (3, 5)


def test_a_misspelt_true_where_a_flag_is_expected_suggests_true():
    error = only_error(model("input x: [seq, 8]", "x -> attention(2, causal = ture) as y", "output y"))
    assert (error.code, at(error)) == ("E205", (3, 32))
    assert error.hint == "did you mean 'true'?"


def test_a_run_time_size_used_as_an_argument_says_it_is_known_only_at_run_time():
    error = only_error(model("input x: [seq, 8]", "x -> dense(seq) as y", "output y"))
    assert (error.code, at(error)) == ("E205", (3, 16))
    assert "run time" in error.hint and "line 2" in error.hint and "let" in error.hint


def test_an_extra_closing_brace_inside_a_model_is_pointed_at():
    error = only_error("model m {\n    input x: [4]\n    x -> residual { relu }} as y\n    output y\n}\n")
    assert error.code == "E101"
    assert at(error) == (3, 27)
    assert "'}'" in error.message and "remove" in error.hint


@pytest.mark.parametrize("header", ["model m", "block b()"])
def test_a_brace_on_the_next_line_says_it_goes_on_the_declarations_line(header):
    error = only_error(f"{header}\n{{\n    relu\n}}\n" + model("input x: [4]", "x -> relu as y", "output y"))
    assert error.code == "E101"
    assert at(error)[0] == 1
    assert "same line" in error.message


# -- train: a spec mistake found only once the data's sizes are known --------------------------------


def test_train_locates_a_positional_table_shorter_than_the_datas_sequences(tmp_path):
    spec = tmp_path / "spec.cram"
    spec.write_text(
        model("input x: [seq, 2]", "x -> pos_embed(4) -> lstm(8, return = last) -> dense(1) as y", "output y")
    )
    result = runner.invoke(app, ["train", str(spec), "--epochs", "1", "-q", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    assert "error[E403]" in result.output and "spec.cram:3:10" in result.output
    assert "must match the size of tensor" not in result.output


def test_a_fraction_where_an_integer_goes_points_at_whole_number_division():
    source = "let d = 256 / 3\nmodel m {\n    input x: [4]\n    x -> dense(d) as y\n    output y\n}\n"
    with pytest.raises(SpecErrors) as failure:
        check_spec(source)
    (error,) = failure.value.errors
    assert error.code == "E304" and "expects an integer, got 85.3" in error.message
    assert "`//` divides to one" in error.hint


def test_output_written_as_a_stage_says_it_is_a_line_of_its_own():
    source = "model m {\n    input x: [4]\n    x -> relu -> output\n}\n"
    with pytest.raises(SpecErrors) as failure:
        check_spec(source)
    (error,) = [e for e in failure.value.errors if e.code == "E204"]
    assert "`output NAME` is a line of its own" in error.hint


def test_two_run_time_sizes_spelt_nearly_alike_are_pointed_out():
    source = (
        "model m {\n    input x: [seq, 8]\n    input y: [sqe, 8]\n    add(x, y) -> dense(2) as z\n    output z\n}\n"
    )
    with pytest.raises(SpecErrors) as failure:
        check_spec(source)
    (error,) = failure.value.errors
    assert (
        error.code == "E401"
        and error.hint == "'seq' and 'sqe' are two different run-time sizes: if they are one, spell them alike"
    )
    apart = source.replace("sqe", "n")  # two names meant to differ keep the broadcasting hint
    with pytest.raises(SpecErrors) as failure:
        check_spec(apart)
    assert "sizes must be equal or 1 on one side" in failure.value.errors[0].hint
