"""The errors LANGUAGE.md §7 promises: a code, a message naming what was expected and found, the file,
line and column, the source line with a caret, and a hint where one helps — one report per mistake
(no follow-on errors), every mistake of a run reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from cramnet.blocks import lookup
from cramnet.compiler import check_spec
from cramnet.dsl.errors import SpecError, SpecErrors


def errors_of(source: str | Path, **options) -> list[SpecError]:
    with pytest.raises(SpecErrors) as caught:
        check_spec(source, **options)
    return caught.value.errors


def only_error(source: str | Path, **options) -> SpecError:
    """The one error of `source`: a mistake is reported once, without errors that follow from it."""
    errors = errors_of(source, **options)
    assert len(errors) == 1, "\n".join(f"{e.code} {e.span}: {e.message}" for e in errors)
    return errors[0]


def at(error: SpecError) -> tuple[int, int]:
    assert error.span is not None, error
    return error.span.line, error.span.col


def model(*body: str, name: str = "m") -> str:
    return f"model {name} {{\n" + "\n".join("    " + line for line in body) + "\n}\n"


# -- names ----------------------------------------------------------------------------------------


def test_unknown_block_suggests_the_nearest():
    error = only_error(model("input x: [1, 28, 28]", "x -> convd2d(6, 5) -> relu as y", "output y"))
    assert error.code == "E204"
    assert "unknown block 'convd2d'" in error.message
    assert at(error) == (3, 10)
    assert "conv2d" in error.hint and "did you mean" in error.hint


def test_unknown_block_suggests_a_user_block():
    source = "block feedforward(d) {\n    dense(d)\n}\n" + model("input x: [4]", "x -> feedforwrd(4) as y", "output y")
    error = only_error(source)
    assert (error.code, at(error)) == ("E204", (6, 10))
    assert "feedforward" in error.hint


def test_unknown_argument_suggests_the_nearest():
    error = only_error(model("input x: [4]", "x -> dense(3, biass = false) as y", "output y"))
    assert error.code == "E301"
    assert "dense" in error.message and "'biass'" in error.message
    assert at(error) == (3, 19)
    assert "'bias'" in error.hint


def test_unknown_argument_of_a_user_block():
    source = "block ffn(d, mult = 4) {\n    dense(d * mult)\n}\n" + model(
        "input x: [4]", "x -> ffn(4, mul = 2) as y", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E301", (6, 17))
    assert "ffn" in error.message and "'mult'" in error.hint


def test_unbound_name_in_a_merge():
    error = only_error(model("input x: [8]", "add(x, z) as y", "output y"))
    assert error.code == "E205"
    assert "'z'" in error.message and "not bound" in error.message
    assert at(error) == (3, 12)


def test_unbound_name_in_arithmetic_suggests_a_let():
    source = "let width = 8\n" + model("input x: [8]", "x -> dense(widht * 2) as y", "output y")
    error = only_error(source)
    assert error.code == "E205" and "unknown name 'widht'" in error.message
    assert at(error) == (4, 16)
    assert "'width'" in error.hint


def test_unbound_name_starting_a_line():
    error = only_error(model("input x: [8]", "h -> relu as y", "output y"))
    assert error.code == "E204" and "'h'" in error.message
    assert at(error) == (3, 5)


def test_output_of_an_unknown_name():
    error = only_error(model("input x: [8]", "x -> dense(3) as logits", "output logit"))
    assert error.code == "E209"
    assert "'logit'" in error.message
    assert at(error) == (4, 12)
    assert "'logits'" in error.hint


def test_second_output_name_is_located():
    error = only_error(model("input x: [8]", "x -> dense(3) as y", "output y, zz"))
    assert (error.code, at(error)) == ("E209", (4, 15))


def test_binding_the_name_of_a_primitive_block():
    error = only_error(model("input x: [8]", "relu = x -> dense(3)", "output relu"))
    assert error.code == "E207"
    assert "'relu'" in error.message and "block" in error.message
    assert at(error) == (3, 5)


def test_aliasing_the_name_of_a_user_block():
    source = "block ffn(d) {\n    dense(d)\n}\n" + model("input x: [8]", "x -> dense(3) as ffn", "output ffn")
    error = only_error(source)
    assert (error.code, at(error)) == ("E207", (6, 22))
    assert "'ffn'" in error.message


def test_an_input_named_after_a_block():
    error = only_error(model("input dense: [8]", "dense -> relu as y", "output y"))
    assert (error.code, at(error)) == ("E207", (2, 11))


def test_binding_a_name_twice_in_one_body():
    error = only_error(model("input x: [8]", "h = x -> relu", "h = x -> gelu", "output h"))
    assert (error.code, at(error)) == ("E207", (4, 5))
    assert "already bound" in error.message


# -- model structure ------------------------------------------------------------------------------


def test_model_line_starting_with_a_block_call():
    error = only_error(model("input x: [8]", "dense(3) -> relu as y", "output y"))
    assert error.code == "E211"
    assert "nothing flows into 'dense'" in error.message
    assert at(error) == (3, 5)


def test_model_line_starting_with_a_combinator():
    error = only_error(model("input x: [8]", "residual { dense(8) } as y", "output y"))
    assert (error.code, at(error)) == ("E211", (3, 5))
    assert "residual" in error.message


def test_several_models_without_choosing():
    source = model("input x: [8]", "x -> relu as y", "output y", name="first") + model(
        "input x: [8]", "x -> gelu as y", "output y", name="second"
    )
    error = only_error(source)
    assert error.code == "E208"
    assert "first" in error.message and "second" in error.message
    assert "--model" in error.hint
    assert at(error) == (1, 7)
    assert [(s.line, s.col) for s, _ in error.notes] == [(6, 7)]
    assert check_spec(source, model="second").name == "second"


def test_choosing_a_model_that_does_not_exist():
    source = model("input x: [8]", "x -> relu as y", "output y", name="first") + model(
        "input x: [8]", "x -> gelu as y", "output y", name="second"
    )
    error = only_error(source, model="secnd")
    assert error.code == "E208" and "'secnd'" in error.message and "'second'" in error.hint


def test_a_file_without_models():
    error = only_error("block b(d) {\n    dense(d)\n}\n")
    assert error.code == "E208" and "no model" in error.message


def test_a_model_without_output():
    error = only_error(model("input x: [8]", "x -> relu"))
    assert (error.code, at(error)) == ("E210", (1, 7))


def test_in_outside_a_body():
    error = only_error(model("input x: [8]", "in -> relu as y", "output y"))
    assert (error.code, at(error)) == ("E212", (3, 5))


def test_input_inside_a_block():
    source = "block b(d) {\n    input z: [3]\n    dense(d)\n}\n" + model("input x: [8]", "x -> b(3) as y", "output y")
    error = only_error(source)
    assert (error.code, at(error)) == ("E213", (2, 5))


# -- arguments ------------------------------------------------------------------------------------


def test_too_many_positional_arguments():
    declared = [a.name for a in lookup("dense").args]  # out, bias, tie, and any the registry adds
    values = ["3", "true", "none"] + ["1"] * (len(declared) - 3) + ["5"]
    error = only_error(model("input x: [8]", f"x -> dense({', '.join(values)}) as y", "output y"))
    assert error.code == "E302"
    assert f"dense takes {len(declared)} arguments, got {len(declared) + 1}" in error.message
    assert at(error) == (3, 16 + len(", ".join(values[:-1])) + 2)  # the first extra argument
    assert "out, bias, tie" in error.hint


def test_arguments_to_a_block_that_takes_none():
    error = only_error(model("input x: [8]", "x -> relu(3) as y", "output y"))
    assert (error.code, at(error)) == ("E302", (3, 15))
    assert "relu takes no arguments" in error.message


def test_missing_required_argument():
    error = only_error(model("input x: [8]", "x -> dense as y", "output y"))
    assert error.code == "E303"
    assert "dense needs argument 'out'" in error.message
    assert at(error) == (3, 10)


def test_missing_required_argument_of_a_user_block():
    source = "block ffn(d, hidden) {\n    dense(hidden) -> dense(d)\n}\n" + model(
        "input x: [8]", "x -> ffn(8) as y", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E303", (6, 10))
    assert "'hidden'" in error.message


def test_argument_given_twice():
    error = only_error(model("input x: [8]", "x -> dense(3, out = 4) as y", "output y"))
    assert (error.code, at(error)) == ("E306", (3, 19))


@pytest.mark.parametrize(
    "call, col, fragment",
    [
        ('dense("ten")', 16, "'out' expects an integer, got \"ten\""),
        ("dense(3.5)", 16, "'out' expects an integer, got 3.5"),
        ("dense(3, bias = 2)", 26, "'bias' expects true or false, got 2"),
        ("dense([3, 4])", 16, "'out' expects an integer, got [3, 4]"),
        ("dropout(true)", 18, "'p' expects a number, got true"),
        ("dense(x)", 16, "'out' expects an integer, got the tensor 'x'"),
    ],
)
def test_wrong_argument_type(call, col, fragment):
    error = only_error(model("input x: [8]", f"x -> {call} as y", "output y"))
    assert error.code == "E304"
    assert fragment in error.message
    assert at(error) == (3, col)


def test_wrong_enum_word_suggests_a_choice():
    error = only_error(model("input x: [3, 8, 8]", "x -> conv2d(4, 3, pad = sme) as y", "output y"))
    assert (error.code, at(error)) == ("E304", (3, 29))
    assert "'same'" in error.hint


@pytest.mark.parametrize(
    "line, col, fragment",
    [
        ("x -> dense(-3) as y", 16, "'out' must be at least 1, got -3"),
        ("x -> dense(0) as y", 16, "'out' must be at least 1, got 0"),
        ("x -> dropout(-0.5) as y", 18, "'p' must be at least 0"),
        ("x -> relu * 0 as y", 17, "repeat count must be at least 1"),
        ("x -> repeat (1 - 3) { relu } as y", 18, "repeat count must be at least 1, got -2"),
        ("x -> dense(8 // 0) as y", 16, "division by zero"),
    ],
)
def test_negative_and_zero_sizes(line, col, fragment):
    error = only_error(model("input x: [8]", line, "output y"))
    assert error.code == "E305"
    assert fragment in error.message
    assert at(error) == (3, col)


@pytest.mark.parametrize(
    "inputs, line, col, fragment",
    [
        ("x: [8]", "x -> dropout(p = 2) as y", 22, "dropout: 'p' must be below 1, got 2"),
        ("x: [8]", "x -> dropout(1) as y", 18, "dropout: 'p' must be below 1, got 1"),
        ("x: [8]", "x -> drop_path(1.5) as y", 20, "drop_path: 'p' must be below 1, got 1.5"),
        ("x: graph[6, 8]", "x -> gat(4, dropout = 2) as y", 27, "gat: 'dropout' must be below 1, got 2"),
        ("x: [5, 8]", "x -> lstm(8, layers = 2, dropout = 3) as y", 40, "lstm: 'dropout' must be below 1, got 3"),
        ("x: [5, 8]", "x -> attention(heads = 2, dropout = 4) as y", 41, "attention: 'dropout' must be below 1"),
    ],
)
def test_probabilities_must_be_below_one(inputs, line, col, fragment):
    """A dropout rate of 1 or more is a bad argument (E305 at the argument), not a shape error (E401)."""
    error = only_error(model(f"input {inputs}", line, "output y"))
    assert error.code == "E305", f"{error.code}: {error.message}"
    assert fragment in error.message
    assert at(error) == (3, col)


@pytest.mark.parametrize("dims, col", [("[0]", 15), ("[4, -2]", 18), ("tokens[0]", 21)])
def test_input_dimensions_must_be_positive(dims, col):
    error = only_error(model(f"input x: {dims}", "x -> relu as y", "output y"))
    assert error.code == "E305"
    assert "a dimension must be at least 1" in error.message
    assert at(error) == (2, col)


# -- shapes ---------------------------------------------------------------------------------------


def test_shape_mismatch_names_both_sides():
    error = only_error(
        model("input x: [8]", "a = x -> dense(16)", "b = x -> dense(32)", "add(a, b) -> relu as y", "output y")
    )
    assert error.code == "E401"
    assert "add" in error.message
    assert "'a' is [16]" in error.message and "'b' is [32]" in error.message
    assert at(error) == (5, 5)
    assert [(s.line, s.col) for s, _ in error.notes] == [(3, 14), (4, 14)]
    assert "[16]" in error.notes[0][1] and "[32]" in error.notes[1][1]


def test_mismatched_add_in_a_residual_names_input_and_body():
    error = only_error(model("input x: [8]", "x -> residual { dense(4) } as y", "output y"))
    assert error.code == "E401"
    assert "[8]" in error.message and "[4]" in error.message
    assert "residual" in error.message
    assert at(error) == (3, 10)


def test_mismatched_concat_and_symbolic_sizes():
    error = only_error(model("input x: [seq, 8]", "input z: [n, 8]", "concat(x, z, dim = -1) as y", "output y"))
    assert error.code == "E401"
    assert "'x' is [seq, 8]" in error.message and "'z' is [n, 8]" in error.message
    assert at(error) == (4, 5)


def test_shape_error_inside_a_block_points_into_the_block():
    source = "block proj(d) {\n    a = in -> dense(d)\n    add(a, in)\n}\n" + model(
        "input x: [8]", "x -> proj(4) as y", "output y"
    )
    error = only_error(source)
    assert (error.code, at(error)) == ("E401", (3, 5))
    assert "'a' is [4]" in error.message and "'in' is [8]" in error.message


def test_wrong_rank():
    error = only_error(model("input x: [8]", "x -> conv2d(4, 3) as y", "output y"))
    assert error.code == "E401" and "conv2d" in error.message
    assert at(error) == (3, 10)


# -- blocks and files -----------------------------------------------------------------------------


def test_direct_recursion():
    source = "block loop(d) {\n    dense(d) -> loop(d)\n}\n" + model("input x: [8]", "x -> loop(3) as y", "output y")
    error = only_error(source)
    assert error.code == "E206"
    assert "'loop' calls itself" in error.message
    assert at(error) == (2, 17)


def test_indirect_recursion():
    source = "block ping(d) {\n    pong(d)\n}\nblock pong(d) {\n    dense(d) -> ping(d)\n}\n" + model(
        "input x: [8]", "x -> ping(3) as y", "output y"
    )
    error = only_error(source)
    assert error.code == "E206"
    assert "ping -> pong -> ping" in error.message
    assert at(error) == (5, 17)


def test_missing_use_file_relative_path(tmp_path):
    spec = tmp_path / "main.cram"
    spec.write_text('use "lib/blocks.cram"\n' + model("input x: [8]", "x -> relu as y", "output y"))
    error = only_error(spec)
    assert error.code == "E201"
    assert "lib/blocks.cram" in error.message
    assert str(tmp_path / "lib" / "blocks.cram") in error.message  # resolved next to the using file
    assert error.span.file == str(spec) and at(error) == (1, 1)


def test_missing_std_file_suggests_the_nearest():
    error = only_error('use "std:resnett"\n' + model("input x: [8]", "x -> relu as y", "output y"))
    assert error.code == "E201"
    assert "std:resnett" in error.message
    assert at(error) == (1, 1)
    assert "'resnet'" in error.hint


def test_use_resolves_relative_to_the_using_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.cram").write_text('use "b.cram"\nblock twice(d) {\n    inner(d) -> inner(d)\n}\n')
    (tmp_path / "lib" / "b.cram").write_text("block inner(d) {\n    dense(d) -> relu\n}\n")
    spec = tmp_path / "main.cram"
    spec.write_text('use "lib/a.cram"\n' + model("input x: [8]", "x -> twice(3) as y", "output y"))
    assert check_spec(spec).output_types["y"].dims == (3,)


def test_use_cycle(tmp_path):
    (tmp_path / "a.cram").write_text('use "b.cram"\nblock fa(d) {\n    dense(d)\n}\n')
    (tmp_path / "b.cram").write_text('\n# b uses a back\nuse "a.cram"\n')
    spec = tmp_path / "main.cram"
    spec.write_text('use "a.cram"\n' + model("input x: [8]", "x -> fa(3) as y", "output y"))
    error = only_error(spec)
    assert error.code == "E202"
    assert "a.cram -> b.cram -> a.cram" in error.message
    assert error.span.file == str(tmp_path / "b.cram")
    assert at(error) == (3, 1)


def test_a_file_that_uses_itself(tmp_path):
    spec = tmp_path / "self.cram"
    spec.write_text('use "self.cram"\n' + model("input x: [8]", "x -> relu as y", "output y"))
    error = only_error(spec)
    assert (error.code, at(error)) == ("E202", (1, 1))


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("model m { # café\n}\n".encode("latin-1"), "not UTF-8"),
    ],
    ids=["binary", "latin-1"],
)
def test_a_file_that_is_not_a_spec(tmp_path, content, fragment):
    spec = tmp_path / "weights.cram"
    spec.write_bytes(content)
    error = only_error(spec)
    assert error.code == "E200"
    assert fragment in error.message and str(spec) in error.message


def test_a_missing_file_and_a_directory(tmp_path):
    assert only_error(tmp_path / "nothing.cram").code == "E200"
    assert only_error(str(tmp_path)).code == "E200"
    assert only_error("not\x00a path").code == "E200"


def test_a_used_file_that_is_binary(tmp_path):
    (tmp_path / "lib.cram").write_bytes(b"\x00\x01\x02")
    spec = tmp_path / "main.cram"
    spec.write_text('use "lib.cram"\n' + model("input x: [8]", "x -> relu as y", "output y"))
    error = only_error(spec)
    assert error.code == "E200" and error.span.file == str(spec) and at(error) == (1, 1)


def test_syntax_error_is_reported_by_check_spec():
    error = only_error(model("input x: [8]", "x -> dense(3 as y", "output y"))
    assert error.code in ("E100", "E101")
    assert at(error) == (3, 18)


# -- several errors in one run --------------------------------------------------------------------


def test_independent_mistakes_are_all_reported_in_source_order():
    errors = errors_of(
        model(
            "input x: [8]",
            "c = x -> dense(-1)",
            "a = x -> convd2d(3)",
            "b = x -> dense(3, biass = true)",
            "d = x -> dense(4) -> dense(5, bias = 3)",
            "output a, b, c, d",
        )
    )
    assert [(e.code, at(e)) for e in errors] == [
        ("E305", (3, 20)),
        ("E204", (4, 14)),
        ("E301", (5, 23)),
        ("E304", (6, 42)),
    ]


def test_mistakes_across_blocks_and_model_are_all_reported():
    source = (
        "let width = 0 // 0\n"  # E305 in a let that is never used
        "block ffn(d) {\n    dense(d) -> dense\n}\n"  # E303 inside a block
        + model("input x: [8]", "x -> ffn(8) -> dense(4) as y", "y -> relu -> layernorm(eps = -1.0) as z", "output zz")
    )
    errors = errors_of(source)
    assert [(e.code, at(e)) for e in errors] == [
        ("E305", (1, 13)),
        ("E303", (3, 17)),
        ("E305", (8, 34)),
        ("E209", (9, 12)),
    ]


# -- rendering ------------------------------------------------------------------------------------


def test_rendered_text_has_location_source_line_and_caret(tmp_path):
    spec = tmp_path / "net.cram"
    spec.write_text(model("input x: [1, 28, 28]", "x -> convd2d(6, 5) as y", "output y"))
    with pytest.raises(SpecErrors) as caught:
        check_spec(spec)
    text = str(caught.value)
    assert f"{spec}:3:10: error[E204]: unknown block 'convd2d'" in text
    assert "  3 |     x -> convd2d(6, 5) as y\n" in text
    assert "\n    |          ^^^^^^^\n" in text  # the caret under the name, as wide as it
    assert "hint: did you mean 'conv2d'?" in text
    assert text.rstrip().endswith("1 error")


def test_rendered_notes_show_their_own_lines():
    with pytest.raises(SpecErrors) as caught:
        check_spec(model("input x: [8]", "a = x -> dense(16)", "b = x -> dense(32)", "add(a, b) as y", "output y"))
    text = str(caught.value)
    assert "<spec>:5:5: error[E401]" in text
    assert "note: 'a' ([16]) comes from here (<spec>:3:14)" in text
    assert "  3 |     a = x -> dense(16)" in text and "  4 |     b = x -> dense(32)" in text


def test_rendered_tabs_keep_the_caret_aligned():
    with pytest.raises(SpecErrors) as caught:
        check_spec("model m {\n\tinput x: [8]\n\tx -> relu(3) as y\n\toutput y\n}\n")
    (error,) = caught.value.errors
    assert at(error) == (3, 12)
    source_line, caret_line = str(caught.value).splitlines()[2:4]
    assert caret_line.index("^") == source_line.index("(3)") + 1, (source_line, caret_line)


def test_rendered_count_for_several_errors():
    with pytest.raises(SpecErrors) as caught:
        check_spec(model("input x: [8]", "a = x -> dense(0)", "b = x -> dense(0)", "output a, b"))
    assert str(caught.value).rstrip().endswith("2 errors")


def test_errors_never_escape_as_python_exceptions_for_these_mistakes():
    for source in [
        model("input x: [8]", "x -> dense(3, tie = nope) as y", "output y"),
        model("input x: [8]", "x -> convd(3) as t", "x -> dense(3, tie = t) as y", "output y"),
        model("input x: [8]", "x -> residual { convd(8) } as y", "output y"),
        model("input x: [8]", "x -> parallel(merge = concat) { relu | nope } as y", "output y"),
        model('input x: ["a"]', "x -> relu as y", "output y"),
        model("input x: graph[8]", "x -> relu as y", "output y"),
    ]:
        errors = errors_of(source)
        assert errors and all(e.code and e.span and e.span.line >= 1 for e in errors), errors


def test_a_use_cycle_names_the_files_as_the_user_wrote_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.cram").write_text('use "b.cram"\nmodel m {\n input x: [2]\n x -> relu as y\n output y\n}\n')
    (tmp_path / "b.cram").write_text('use "a.cram"\n')
    with pytest.raises(SpecErrors) as caught:
        check_spec(Path("a.cram"))
    (error,) = caught.value.errors
    assert error.code == "E202" and "a.cram -> b.cram -> a.cram" in error.message


def test_a_model_without_inputs_says_so():
    with pytest.raises(SpecErrors) as caught:
        check_spec("model m {\n}\n")
    assert {e.code for e in caught.value.errors} == {"E210"} and len(caught.value.errors) == 2


def test_none_for_a_required_size_is_named():
    with pytest.raises(SpecErrors) as caught:
        check_spec("model m {\n input x: [2]\n x -> dense(none) as y\n output y\n}\n")
    assert caught.value.errors[0].message == "dense: 'out' cannot be none"
