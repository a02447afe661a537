"""`train`: a run from a spec and a config — the directory claimed, the model built (or resumed
exactly, or started from published weights), the epochs run (`epochs.py`), the run published."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.text import Text

from .. import __version__
from . import checkpoints as ckpt
from . import sharding
from .config import get
from .data.text import keep_tokenizer, tokenizer_from_json
from .distributed import join, launched, leave
from .engine import Engine, aux_terms, make_optimizer
from .epochs import finish, run_epochs
from .errors import TrainError
from .fine_tune import check_token_ids, parameter_groups, start_from, start_sharded
from .run_dir import (
    check_run_spec,
    claim_out,
    default_out,
    publish,
    read_json,
    unfinished_hint,
    write_config,
    write_json,
    write_spec,
)
from .setup import Setup, prepare, spec_limits


@dataclass
class RunResult:
    out: Path
    final: dict
    history: list[dict]
    notes: list[str] = field(default_factory=list)
    writer: bool = True  # this process writes and reports the run (rank 0 of a distributed run)


def train(
    spec: Path | str | None,
    config: dict,
    *,
    model: str | None = None,
    plugins: list[str] = (),
    resume: Path | None = None,
    console=None,
    on_epoch_end: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Train a spec (a path, source, or an already checked model) as `config` says; `resume` continues
    the run in that directory exactly. A new run refuses a directory that holds another run unless
    `overwrite` (replaced once this run finishes)."""
    wanted = Path(config["out"]) if resume is None and config["out"] else None
    # under torchrun the launching command claimed the directory; its processes must not race for it
    work = claim_out(wanted, overwrite) if wanted is not None and not launched() else wanted
    resumed_alone = resume is not None and spec is None
    checked = check_run_spec(resume, model, plugins, spec_limits(config)) if resumed_alone else None
    threads = config["threads"] or (1 if (os.cpu_count() or 1) <= 2 else 0)
    if threads and config["device"] != "cuda":  # before prepare: synthetic data is made on the CPU too
        torch.set_num_threads(threads)
    if spec is not None and not isinstance(spec, (str, Path)):  # a CheckedModel: a point of a sweep, say
        checked, spec = spec, None
    kept = _kept_tokenizer(resume) if resume is not None else None
    setup = prepare(spec, config, model, plugins, checked, tokenizer=kept, new_run=resume is None)
    config, checked = setup.config, setup.checked
    if resume is None:
        check_token_ids(config, setup.data)
    fsdp = get(config, "distributed.strategy") == "fsdp"
    if config["memory_check"]:  # the sharded plan; plain training's check comes below
        sharding.check_plan(setup, int(os.environ.get("WORLD_SIZE", "1")))
    world = join(setup.device, always=fsdp)
    if world.size > 1 and setup.device.type == "cuda":
        setup.device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(setup.device)
    console = console if world.writer else None
    final_out = Path(resume or config["out"] or default_out(checked.name))
    config["out"] = str(final_out)
    out = work or final_out  # where files go until the run is finished
    digest = ckpt.spec_hash(checked.source(standalone=False))
    seed = config["seed"]
    if fsdp:
        start, new = start_sharded(checked, config, resume is None, console)
        inner = sharding.build_sharded(checked, seed, setup.device, world, config, start)
    else:
        if config["memory_check"]:
            _check_memory(setup)
        inner = checked.build(seed=seed)
        new = start_from(inner, checked, config, resume is None, console)
        inner = inner.to(setup.device)
        if get(config, "distributed.checkpoint_layers"):
            sharding.checkpoint_layers(inner)
    optimizer = make_optimizer(parameter_groups(inner, new, config), config)
    state = {"epoch": 0, "best": None, "best_epoch": None, "bad_epochs": 0, "history": [], "grad_norms": []}
    last_path, best_path = out / "checkpoints" / "last.safetensors", out / "checkpoints" / "best.safetensors"
    if resume is not None and fsdp:
        folder = out / "checkpoints" / sharding.SHARDED_DIR
        if not folder.is_dir():
            raise TrainError(
                f"{out}: no sharded checkpoint to resume from ({folder} is missing)",
                "a run trained with --strategy ddp resumes with --strategy ddp",
            )
        meta = sharding.read_sharded_meta(folder, digest)
        sharding.load_sharded(folder, inner, optimizer, meta)
        state = meta["loop"]
        if console is not None:
            console.print(f"resuming {out} after epoch {state['epoch']} ({meta['processes']} processes wrote it)")
    elif resume is not None:
        if not last_path.exists():
            raise TrainError(f"{out}: no checkpoint to resume from ({last_path} is missing)", unfinished_hint(out))
        tensors, meta = ckpt.load(last_path, digest, checked, config["memory_check"])
        ckpt.load_model(inner, tensors, last_path)
        if not isinstance(meta.get("optimizer"), dict) or not isinstance(meta.get("loop"), dict):
            raise TrainError(
                f"{last_path} holds no optimizer and loop state, so the run cannot continue exactly",
                "start a new run (the weights can be read with load_run)",
            )
        ckpt.restore_optimizer(optimizer, tensors, meta["optimizer"], last_path)
        ckpt.restore_rng(tensors)
        state = meta["loop"]
        if console is not None:
            console.print(Text(f"resuming {out} after epoch {state['epoch']}"))
    else:
        torch.manual_seed(seed)  # dropout and sampling: the same run every time
    runner = inner
    if world.size > 1 and not fsdp:
        from torch.nn.parallel import DistributedDataParallel

        ids = [setup.device.index] if setup.device.type == "cuda" else None
        runner = DistributedDataParallel(inner, device_ids=ids)
    if config["compile"]:
        runner = torch.compile(runner)
    engine = Engine(setup, inner, runner, world)
    _check_one_batch(setup, inner)
    if world.writer:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TrainError(f"cannot create the run directory {out}: {error.strerror or error}") from None
        if resume is None:
            write_config(out, config)
            write_spec(out, checked)
        else:  # a resume's overrides are kept once an epoch has run with them: one that fails leaves the old
            on_epoch_end = _write_config_after_first_epoch(out, config, on_epoch_end)
        write_json(
            out / "run.json",
            {
                "model": checked.name,
                "spec": str(Path(checked.path).resolve()),
                "spec_hash": digest,
                "task": setup.task.name,
                "output": setup.task.output,
                "data": setup.data.name,
                "classes": setup.data.classes,
                "labels": setup.data.labels,
                "cramnet": __version__,
                "tokenizer": keep_tokenizer(setup.data.tokenizer, out),
                "alphabet": setup.data.alphabet,  # a guessed one is kept: other files are read as these were
            },
        )
    if console is not None:
        for note in setup.notes:
            console.print(Text(note, style="dim"))
        for warning in setup.data.warnings:
            console.print(Text(f"warning: {warning}", style="yellow"))
        console.print(
            Text(
                f"{checked.name}: {sum(p.numel() for p in inner.parameters()):,} parameters on "
                f"{setup.device}, data {setup.data.info}; run directory {final_out}"
            )
        )
        console.print(Text(setup.task.loss_text(aux_terms(inner), setup.config["aux_weight"])))
    try:
        run_epochs(engine, optimizer, state, out, digest, console, on_epoch_end)
    except torch.OutOfMemoryError:
        raise TrainError(
            f"ran out of memory on {setup.device} with batch size {config['batch_size']}",
            "lower --batch-size, try --precision bf16, or shrink the model",
        ) from None
    final = finish(engine, state, out, best_path, digest)
    if world.writer:
        publish(out, final_out)
    if world.size > 1 or fsdp:
        leave()
    return RunResult(final_out, final, state["history"], setup.notes, world.writer)


def _kept_tokenizer(run: Path):
    """The published tokenizer a run keeps a copy of (run.json names it), else None: a resume reads its
    data with the copy, needing neither the directory it came from nor the working directory then."""
    info = read_json(run / "run.json") if (run / "run.json").is_file() else None
    kept = info.get("tokenizer") if isinstance(info, dict) else None
    return tokenizer_from_json(kept, run) if isinstance(kept, dict) and kept.get("kind") == "published" else None


def _check_memory(setup: Setup) -> None:
    """Refuse, with the numbers, a model whose training step would not fit in free memory."""
    from ..compiler.memory import check_fits, estimate
    from .memory_plan import optimizer_slots

    config = setup.config
    slots = optimizer_slots(get(config, "optimizer.name"), get(config, "optimizer.momentum"))
    batch = min(config["batch_size"], max(len(setup.data.train), 1))  # a batch holds at most the whole split
    need = estimate(setup.checked, None, batch, slots)
    check_fits(need, setup.device, setup.checked.name, "train", "--set memory_check=false")


def _check_one_batch(setup: Setup, module: torch.nn.Module) -> None:
    """Run the model on two training examples before anything is written: a model that cannot read
    the data (a `pos_embed` table shorter than the data's sequences, say) is told as a message, not a
    crash in the first step. Random state is left untouched, so resumed runs stay exact."""
    split = setup.data.train
    batch = split.batch(torch.arange(min(2, len(split)))).to(setup.device)
    setup.checked.check_sizes(_run_sizes(setup.checked, batch.inputs))  # refused sizes: located spec errors
    devices = [setup.device] if setup.device.type == "cuda" else []
    was_training = module.training
    module.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            module(*[batch.inputs[n] for n in setup.checked.inputs])
    except (RuntimeError, ValueError, IndexError) as error:
        if isinstance(error, torch.OutOfMemoryError):
            raise
        shapes = ", ".join(
            f"{name} {list(value.shape[1:])}" for name, value in batch.inputs.items() if isinstance(value, torch.Tensor)
        )
        raise TrainError(
            f"model '{setup.checked.name}' cannot run on data {setup.data.name} ({shapes or setup.data.info} "
            f"per example): {str(error).splitlines()[0]}",
            "make the model's sizes fit the data's (a pos_embed table at least as long as the sequences; "
            "data.options.length sets the windows of text data)",
        ) from None
    finally:
        module.train(was_training)


def _run_sizes(checked, inputs: dict) -> dict[str, int]:
    """The data's value of each run-time size an input's type names alone (`seq` in `[seq, 2]`)."""
    from ..blocks.dims import symbol_name

    sizes = {}
    for name in checked.inputs:
        value, dims = inputs.get(name), getattr(checked.input_types[name], "dims", ())
        if isinstance(value, torch.Tensor) and value.dim() == len(dims) + 1:  # (B, *dims)
            for dim, size in zip(dims, value.shape[1:]):
                if symbol_name(dim):
                    sizes.setdefault(symbol_name(dim), int(size))
    return sizes


def _write_config_after_first_epoch(out: Path, config: dict, then: Callable[[int], None] | None):
    written = False

    def on_epoch_end(epoch: int) -> None:
        nonlocal written
        if not written:
            write_config(out, config)
            written = True
        if then is not None:
            then(epoch)

    return on_epoch_end
