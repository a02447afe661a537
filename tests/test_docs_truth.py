"""The docs tell the truth: every spec example in docs/language.md checks (or fails with the code
its comment names), every example in docs/errors.md prints what the page shows, and the command
transcripts of the docs print what cramnet prints. A change of output fails here, not in a reader."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec

ROOT = Path(__file__).resolve().parent.parent
SHOWN_HOME = "/home/me/project"  # where errors.md's examples pretend to live
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
runner = CliRunner()


def _fences(doc: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer((ROOT / doc).read_text())]


def _file_name(block: str) -> str | None:
    first = block.split("\n", 1)[0]
    match = re.match(r"# file: (\S+)", first)
    return match.group(1) if match else None


def _contents(block: str) -> str:
    """The file an example stands for: without its `# file:` line, which only names it."""
    return block.split("\n", 1)[1] if _file_name(block) else block


def _cramnet(line: str, cwd: Path, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    result = runner.invoke(app, shlex.split(line)[1:], prog_name="cramnet")
    return result.exit_code, result.output.replace(str(cwd), SHOWN_HOME)


def _transcript(block: str) -> list[tuple[str, str]]:
    """`$ cramnet …` lines, each with the output shown under it."""
    steps = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(command, "\n".join(output).strip()) for command, output in steps]


def _language_examples(tmp_path: Path) -> list[tuple[int, Path, str]]:
    """Every ```cram example, written where its `# file:` line says (so `use` finds the others), or
    as example_N.cram; the `# file:` text files (a groups file) beside them."""
    examples = []
    for i, (lang, block) in enumerate(_fences("docs/language.md")):
        name = _file_name(block)
        if lang not in ("cram", "text") or (lang == "text" and name is None):
            continue
        path = tmp_path / (name or f"example_{i}.cram")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_contents(block))
        if lang == "cram":
            examples.append((i, path, block))
    return examples


def test_every_language_example_checks_or_fails_as_its_comment_says(tmp_path, monkeypatch):
    checked = 0
    for i, path, block in _language_examples(tmp_path):
        if not re.search(r"^model ", block, re.M):
            continue  # a file of blocks, `use`d by another example
        wanted = re.findall(r"error\[(E\d+)\]", block)
        code, output = _cramnet(f"cramnet check {path.name}", path.parent, monkeypatch)
        if wanted:
            assert code == 1 and f"error[{wanted[0]}]" in output, f"language.md example {i}:\n{output}"
        else:
            assert code == 0, f"language.md example {i} ({path.name}):\n{output}"
        checked += 1
    assert checked > 40


def test_every_error_example_prints_what_the_page_shows(tmp_path, monkeypatch):
    """Each ```cram example of errors.md is spec.cram (or its `# file:`); the ```text or ```console
    block after it is what `cramnet check spec.cram` prints, or the `$ cramnet …` line it shows."""
    compared, last = 0, None
    (tmp_path / "layers").mkdir()  # E201's project has the folder, not the file
    for lang, block in _fences("docs/errors.md"):
        if lang == "cram":
            last = tmp_path / (_file_name(block) or "spec.cram")
            last.write_text(_contents(block))
            continue
        if lang in ("text", "console") and last is not None:
            shown = block.strip()
            steps = _transcript(shown) if shown.startswith("$ ") else [(f"cramnet check {last.name}", shown)]
            for command, output in steps:
                code, printed = _cramnet(command, tmp_path, monkeypatch)
                assert (code, printed.strip()) == (1, output), f"errors.md: {command}"
                compared += 1
        last = None
    assert compared > 40


@pytest.mark.parametrize(
    "doc, opening",
    [
        ("docs/language.md", "$ cramnet check specs/lenet5.cram"),
        ("docs/errors.md", "$ cramnet check --modle lenet"),
        ("docs/errors.md", "$ cramnet check specs/lenett5.cram"),
        ("docs/search.md", "$ cramnet check specs/search/digits_families.cram"),
    ],
)
def test_transcripts_of_the_shipped_specs(doc, opening, monkeypatch):
    (block,) = [b for _, b in _fences(doc) if b.startswith(opening)]
    for command, output in _transcript(block):
        _, printed = _cramnet(command, ROOT, monkeypatch)
        assert printed.strip() == output, f"{doc}: {command}\n{printed}"


FROZEN = """use "std:transformer"

model classifier {
    input ids: tokens[seq]
    ids -> embed(100, 32, freeze = true) -> pre_ln(32, 4, 128, freeze = true) * 2 -> pool(mean) -> dense(3) as label
    output label
}
"""


def test_summary_counts_frozen_parameters_apart_from_trainable_ones(tmp_path, monkeypatch):
    """language.md: the summary's parameters are the trainable ones; `freeze = true` keeps a call's
    parameters out of training, so its parameters are told apart, not called trainable."""
    (tmp_path / "frozen.cram").write_text(FROZEN)
    summary = check_spec(str(tmp_path / "frozen.cram")).summary()
    assert (summary.params, summary.frozen_params) == (28_707, 28_608)
    assert summary.to_json()["frozen_params"] == 28_608
    assert summary.memory["gradients"] == 99 * 4  # a frozen weight has no gradient
    from cramnet.compiler.memory import estimate

    need = estimate(check_spec(str(tmp_path / "frozen.cram")), None, 1, optimizer_slots=2)
    assert (need.weights, need.gradients, need.optimizer) == (28_707 * 4, 99 * 4, 2 * 99 * 4)
    _, printed = _cramnet("cramnet summary frozen.cram", tmp_path, monkeypatch)
    assert "parameters 28,707: 99 trainable, 28,608 frozen (freeze = true)" in printed
    _, printed = _cramnet("cramnet summary specs/lenet5.cram", ROOT, monkeypatch)
    assert "parameters 61,706 trainable" in printed


def test_the_block_catalogue_is_the_registry():
    """language.md's catalogue lists every registered block, in its family, with its signature."""
    from cramnet.blocks.registry import all_blocks

    text = (ROOT / "docs/language.md").read_text()
    catalogue = text[text.index("## Block catalogue") :]
    rows = re.findall(r"^\| ([^|`]+) \| `([a-z_0-9]+(?:\(.*?\))?)` \| ", catalogue, re.M)
    listed = {signature.split("(")[0]: (family.strip(), signature) for family, signature in rows}
    blocks = {name: spec for name, spec in all_blocks().items() if spec.origin.startswith("cramnet.")}  # no plugins
    assert sorted(listed) == sorted(blocks)
    for name, spec in blocks.items():
        assert listed[name] == (spec.family, spec.signature()), name


def test_every_error_code_has_a_section_and_a_row_in_errors_md():
    package = [p for p in ROOT.rglob("*.py") if not {".venv", "tests", "bench"} & set(p.relative_to(ROOT).parts)]
    raised = {code for p in package for code in re.findall(r"\"(E\d{3})\"", p.read_text())}
    text = (ROOT / "docs/errors.md").read_text()
    sections = set(re.findall(r"^## (E\d{3}) — ", text, re.M))
    rows = set(re.findall(r"^\| \[(E\d{3})\]\(#e\d{3}--", text, re.M))
    assert raised == sections == rows
