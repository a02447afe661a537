"""The command line before a command runs (cli/usage.py): every value named by a metavar in the
help, and the mistakes typer finds told like cramnet's own — `error:` and a hint, exit 2."""

import re

import pytest
import typer
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.cli.options import DEVICES, EXPORT_FORMATS, PRECISIONS, RENDER_FORMATS, STRATEGIES

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def run(*args):
    return runner.invoke(app, list(args), prog_name="cramnet")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_every_value_by_a_metavar(command):
    click_command = typer.main.get_command(app).commands[command]
    for param in click_command.params:
        flag = getattr(param, "is_flag", False)
        assert flag or (param.metavar and param.metavar == param.metavar.strip()), f"{command}: {param.name}"
    result = run(command, "-h")
    assert result.exit_code == 0, result.output
    # typer's placeholders: `<list[str]>`, `<int range>`, `{spec}`, `x>=1`
    assert not re.search(r"<[a-z][\w\[\] ]*>|\{\w+\}|x[<>]=", result.output), result.output
    assert result.output.startswith(f"Usage: cramnet {command} [OPTIONS]")


def test_help_lines_read_as_a_user_writes_them():
    summary = run("summary", "-h").output
    assert "Usage: cramnet summary [OPTIONS] SPEC\n" in summary
    assert re.search(r"--dim NAME=SIZE +Size a run-time dimension", summary)
    assert re.search(r"-m, --model NAME +Which model", summary)
    assert "[default: 1; at least 1]" in summary
    assert "Usage: cramnet fmt [OPTIONS] SPEC...\n" in run("fmt", "-h").output
    assert "Usage: cramnet train [OPTIONS] [SPEC]\n" in run("train", "-h").output
    assert "[from 0 to 4,294,967,295]" in run("train", "-h").output
    assert "Usage: cramnet predict [OPTIONS] RUN FILE\n" in run("predict", "-h").output


@pytest.mark.parametrize(
    "args, message, hint",
    [
        (["check", "--modle", "x", "specs/mlp.cram"], "cramnet check has no option --modle", "did you mean '--model'?"),
        (["check", "--frobnicate", "specs/mlp.cram"], "cramnet check has no option --frobnicate", "cramnet check -h"),
        (["check"], "cramnet check needs SPEC", "usage: cramnet check [OPTIONS] SPEC"),
        (["chek", "specs/mlp.cram"], "cramnet has no command 'chek'", "did you mean 'check'?"),
        (["--frobnicate"], "cramnet has no option --frobnicate", "cramnet -h"),
        (["generate", "runs/x"], "cramnet generate needs --prompt TEXT", "--prompt takes TEXT"),
        (["summary", "specs/mlp.cram", "--dim"], "--dim needs a value", "--dim takes NAME=SIZE"),
        (["check", "--max-nodes", "0", "specs/mlp.cram"], "--max-nodes '0': must be at least 1", "--max-nodes takes N"),
        (["train", "specs/mlp.cram", "--seed=-1"], "--seed '-1': must be from 0 to 4,294,967,295", "Seed of"),
        (["check", "--max-nodes=many", "specs/mlp.cram"], "--max-nodes 'many' is not a whole number", "at least 1"),
        (["summary", "specs/mlp.cram", "--batch", "1.5"], "--batch '1.5' is not a whole number", "--batch takes N"),
        (["train", "specs/mlp.cram", "--lr", "fast"], "--lr 'fast' is not a number", "--lr takes"),
        (["check", "specs/mlp.cram", "specs/vae.cram"], "unexpected extra argument", "usage: cramnet check"),
        (["summary", "specs/mlp.cram", "--strategy", "fsdb"], "--strategy 'fsdb' is not one of ddp, fsdp", "'fsdp'"),
        (["train", "specs/mlp.cram", "--precision", "fp8"], "--precision 'fp8' is not one of fp32, bf16, fp16", "for"),
        (["train"], "cramnet train needs SPEC (or --resume RUN)", "usage: cramnet train [OPTIONS] [SPEC]"),  # exit 1
        # these two exited 1 without a suggestion, after the spec was checked
        (["render", "specs/mlp.cram", "--format", "pnf"], "--format 'pnf' is not one of svg, png, pdf", "'png'"),
        (["export", "specs/mlp.cram", "--format", "onx"], "--format 'onx' is not one of python, onnx, hf", "'onnx'"),
    ],
)
def test_usage_mistakes_read_like_cramnets_errors(args, message, hint):
    result = run(*args)
    assert result.exit_code == 2, result.output
    first, second = (result.output.splitlines() + ["", ""])[:2]
    assert first.startswith("error: ") and message in first, result.output
    assert second.startswith("  hint: ") and hint in second, result.output
    assert "Usage:" not in result.output and "Error:" not in result.output and "Traceback" not in result.output


def test_no_arguments_at_all_prints_the_help():
    result = run()
    assert "Usage: cramnet [OPTIONS] COMMAND" in result.output and "check" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["compile", "specs/mlp.cram"],
        ["train", "specs/mlp.cram"],
        ["evaluate", "runs/x"],
        ["predict", "runs/x", "in.npz"],
        ["generate", "runs/x", "--prompt", "a"],
        ["probe", "runs/x", "--node", "a"],
    ],
)
def test_one_message_for_a_bad_device_everywhere(command):
    result = run(*command, "--device", "tpu")
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[:2] == [
        "error: --device 'tpu' is not one of auto, cpu, cuda",
        "  hint: did you mean 'cpu'?",
    ]


def test_the_flag_choices_are_the_config_keys_choices():
    from cramnet.train.config_schema import SCHEMA

    assert SCHEMA["device"].choices == DEVICES and SCHEMA["precision"].choices == PRECISIONS
    assert SCHEMA["distributed.strategy"].choices == STRATEGIES


def test_the_format_choices_are_the_writers_formats():
    from cramnet.export import FORMATS as EXPORTS
    from cramnet.render.files import FORMATS as RENDERS

    assert EXPORTS == EXPORT_FORMATS and RENDERS == RENDER_FORMATS
