"""`cramnet fmt`: the canonical layout never changes what a spec means, keeps every comment, and
is a fixed point (formatting twice is formatting once)."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.dsl import format as fmt
from cramnet.dsl import parse
from cramnet.dsl.errors import SpecErrors
from cramnet.dsl.format import FormatError, comments, format_spec, without_spans

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("specs/**/*.cram"), *ROOT.glob("blocks/std/*.cram")])
DOC_EXAMPLES = re.findall(r"```cram\n(.*?)```", (ROOT / "docs/language.md").read_text(), re.S)
runner = CliRunner()


def _same_meaning_and_stable(text: str, name: str) -> str:
    once = format_spec(text, name)
    assert without_spans(parse(once, name)) == without_spans(parse(text, name))
    assert [c.text for c in comments(once)] == [c.text for c in comments(text)]
    assert format_spec(once, name) == once
    return once


@pytest.mark.parametrize("path", FILES)
def test_fmt_keeps_meaning_and_comments_and_is_idempotent(path):
    _same_meaning_and_stable((ROOT / path).read_text(), path)


@pytest.mark.parametrize("path", FILES)
def test_shipped_specs_are_in_the_canonical_layout(path):
    text = (ROOT / path).read_text()
    assert format_spec(text, path) == text, f"run: cramnet fmt {path}"


def test_fmt_on_the_language_reference_examples():
    checked = 0
    for i, text in enumerate(DOC_EXAMPLES):
        try:
            parse(text)
        except SpecErrors:
            continue  # the examples of syntax errors
        _same_meaning_and_stable(text, f"language.md example {i + 1}")
        checked += 1
    assert checked > 20


MESSY = """# a header comment
use   "std:ffn"
let d=64   # width
let e = (d+1)*2 - -3 // (1 + 1)
block  mix( a , b=2 ){
  h=in->dense(a*b,bias=false)   ->relu
  h -> residual{layernorm->dense(a)}
}


model   m{
  input x :[seq,d]
  x->mix(d)->parallel(merge=add){identity|dense(d)} as y
    ->moe(experts=2,top_k=1){
      dense(d)   # expert
    }
    -> ffn(d)*2 as z
  output y,z
}
"""

CANONICAL = """# a header comment
use "std:ffn"
let d = 64  # width
let e = (d + 1) * 2 - -3 // (1 + 1)

block mix(a, b = 2) {
    h = in -> dense(a * b, bias = false) -> relu
    h -> residual { layernorm -> dense(a) }
}

model m {
    input x: [seq, d]
    x -> mix(d) -> parallel(merge = add) { identity | dense(d) } as y
      -> moe(experts = 2, top_k = 1) {
          dense(d)  # expert
      }
      -> ffn(d) * 2 as z
    output y, z
}
"""


def test_fmt_canonical_layout():
    assert _same_meaning_and_stable(MESSY, "messy.cram") == CANONICAL


def test_fmt_keeps_breaks_between_arguments_and_branches():
    text = (
        "model m {\n    input x: [16]\n    x -> dense(8,\n  bias = false)   # narrow\n"
        "      -> parallel {\n  relu\n | a = in -> tanh\n   mul(a, in)\n }\n    output x\n}\n"
    )
    once = _same_meaning_and_stable(text, "m.cram")
    assert "dense(8,\n               bias = false)  # narrow" in once
    assert "-> parallel {\n          relu\n        | a = in -> tanh\n          mul(a, in)\n      }" in once


def test_fmt_refuses_to_change_meaning(monkeypatch):
    monkeypatch.setattr(fmt._Printer, "param", lambda self, node: self.write(node.name))  # drops defaults
    with pytest.raises(FormatError):
        format_spec("block b(d = 2) { dense(d) }\n")


def test_cli_fmt_check_and_write(tmp_path):
    spec = tmp_path / "m.cram"
    spec.write_text(MESSY)
    result = runner.invoke(app, ["fmt", "--check", str(spec)])
    assert result.exit_code == 1 and f"would reformat {spec}" in result.output and spec.read_text() == MESSY
    result = runner.invoke(app, ["fmt", str(spec)])
    assert result.exit_code == 0 and f"formatted {spec}" in result.output and spec.read_text() == CANONICAL
    result = runner.invoke(app, ["fmt", "--check", str(spec)])
    assert result.exit_code == 0 and result.output == f"{spec} already formatted\n"
    spec.write_text("model m {\n    input x: [4\n}\n")
    result = runner.invoke(app, ["fmt", str(spec)])
    assert result.exit_code == 1 and "error[" in result.output and "Traceback" not in result.output


def test_cli_fmt_messages_count_only_what_a_line_did_not_say(tmp_path):
    paths = [tmp_path / f"{name}.cram" for name in ("a", "b", "c")]
    for path, text in zip(paths, [MESSY, MESSY, CANONICAL]):
        path.write_text(text)
    result = runner.invoke(app, ["fmt", "--check", *map(str, paths)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"would reformat {paths[0]}",
        f"would reformat {paths[1]}",
        "2 files would be reformatted, 1 file already formatted",
    ]
    result = runner.invoke(app, ["fmt", str(paths[0])])
    assert result.exit_code == 0 and result.output == f"formatted {paths[0]}\n"  # no "0 files already formatted"
    result = runner.invoke(app, ["fmt", *map(str, paths)])
    assert result.output.splitlines() == [f"formatted {paths[1]}", "1 file formatted, 2 files already formatted"]
    assert runner.invoke(app, ["fmt", *map(str, paths)]).output == "3 files already formatted\n"


def test_cli_fmt_goes_on_past_a_file_it_cannot_format(tmp_path):
    # it stopped at the broken file: the one before was rewritten without a word, the one after never read
    paths = [tmp_path / f"{name}.cram" for name in ("a", "b", "c")]
    for path, text in zip(paths, [MESSY, "model m {\n    input x: [4\n}\n", MESSY]):
        path.write_text(text)
    missing = tmp_path / "gone.cram"
    result = runner.invoke(app, ["fmt", "--check", *map(str, paths), str(missing)])
    assert result.exit_code == 1 and paths[0].read_text() == MESSY
    assert f"would reformat {paths[0]}" in result.output and f"would reformat {paths[2]}" in result.output
    assert f"{paths[1]}:2:14: error[E101]" in result.output  # the '[' left open
    assert f"error: cannot read or write {missing}: No such file or directory" in result.output
    assert "2 files would be reformatted, 2 files could not be formatted" in result.output
    result = runner.invoke(app, ["fmt", *map(str, paths)])
    assert result.exit_code == 1 and f"formatted {paths[0]}\nformatted {paths[2]}\n" in result.output
    assert paths[0].read_text() == CANONICAL == paths[2].read_text() and f"{paths[1]}:2:14:" in result.output


def test_trailing_comments_two_spaces_after_the_code_and_aligned_in_a_run():
    text = (
        "model m {  # one space or ten: the same\n"
        "    input x: [4]\n"
        "    x -> relu as a # a run of two\n"
        "    a -> dense(4) -> tanh as y              # lines\n"
        "\n"
        "    output y             # alone again\n"
        "}\n"
    )
    assert _same_meaning_and_stable(text, "m.cram") == (
        "model m {  # one space or ten: the same\n"
        "    input x: [4]\n"
        "    x -> relu as a              # a run of two\n"
        "    a -> dense(4) -> tanh as y  # lines\n"
        "\n"
        "    output y  # alone again\n"
        "}\n"
    )


def test_fmt_keeps_crlf_line_endings_and_lf_ones():
    # a CRLF file came out LF: every line of it changed in the editor and in version control
    crlf = MESSY.replace("\n", "\r\n")
    once = _same_meaning_and_stable(crlf, "crlf.cram")
    assert once == CANONICAL.replace("\n", "\r\n")
    assert _same_meaning_and_stable(MESSY, "lf.cram") == CANONICAL


def test_cli_fmt_writes_crlf_back_as_crlf(tmp_path):
    spec = tmp_path / "m.cram"
    spec.write_bytes(MESSY.replace("\n", "\r\n").encode())
    assert runner.invoke(app, ["fmt", str(spec)]).exit_code == 0
    assert spec.read_bytes() == CANONICAL.replace("\n", "\r\n").encode()
    assert runner.invoke(app, ["fmt", "--check", str(spec)]).exit_code == 0
