"""The training loop: batches in a seeded order, the task's loss plus the blocks' auxiliary losses,
per-block gradient norms, validation each epoch, early stopping, checkpoints, exact resume."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.text import Text

from .. import __version__
from . import checkpoints as ckpt
from . import sharding
from .config import get
from .confusion_plot import write_confusion
from .data.splits import Batch
from .distributed import World, all_agree, join, launched, leave
from .errors import TrainError
from .fine_tune import parameter_groups, start_from
from .run_dir import (
    check_run_spec,
    claim_out,
    default_out,
    plot_curves,
    plot_grad_norms,
    publish,
    write_config,
    write_json,
    write_rows,
    write_spec,
)
from .setup import Setup, prepare, spec_limits
from .tasks import HIGHER_IS_BETTER


@dataclass
class RunResult:
    out: Path
    final: dict
    history: list[dict]
    notes: list[str] = field(default_factory=list)


@dataclass
class Engine:
    """The pieces one step needs."""

    setup: Setup
    inner: torch.nn.Module  # the compiled spec's module (for aux losses, checkpoints)
    runner: torch.nn.Module  # what is called: the module, under DDP and/or torch.compile
    world: World

    @property
    def sharded(self) -> bool:
        return get(self.setup.config, "distributed.strategy") == "fsdp"

    def model_tensors(self) -> dict[str, torch.Tensor]:
        """The whole model's weights for a safetensors file (under FSDP: gathered, every process calls)."""
        if self.sharded:
            return {f"model.{k}": v for k, v in sharding.full_state(self.inner).items()}
        return ckpt.model_tensors(self.inner)

    def autocast(self):
        precision = self.setup.config["precision"]
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(self.setup.device.type, dtype=dtype)

    def forward(self, batch: Batch):
        names = self.setup.checked.inputs
        masks = {f"{n}_mask": batch.inputs[f"{n}_mask"] for n in names if f"{n}_mask" in batch.inputs}  # padding
        with self.autocast():
            outputs = self.runner(*[batch.inputs[n] for n in names], **masks)
            loss, counts = self.setup.task.loss_and_counts(outputs, batch, self.setup.input_name)
        # keyed by module path, without the level `checkpoint_layers` adds
        aux = {sharding.strip_key(k): v.float() for k, v in self.inner.aux_losses().items()}
        return loss, counts, aux


def evaluate_split(engine: Engine, split, batch_size: int) -> dict[str, float]:
    """The task's metrics over a whole split, in eval mode (every process computes all of it)."""
    engine.runner.eval()
    sums: dict[str, float] = {}
    pin = engine.setup.device.type == "cuda"
    with torch.no_grad():
        for start in range(0, len(split), batch_size):
            batch = split.batch(torch.arange(start, min(start + batch_size, len(split)))).to(engine.setup.device, pin)
            _, counts, aux = engine.forward(batch)
            _add(sums, counts)
            _add(sums, {f"aux_{k}": float(v.detach()) for k, v in aux.items()} | {"batches": 1})
    return engine.setup.task.metrics(sums)


def _add(sums: dict, counts: dict) -> None:
    for key, value in counts.items():
        sums[key] = sums.get(key, 0.0) + value


def make_optimizer(params, config: dict) -> torch.optim.Optimizer:
    name, lr, decay = get(config, "optimizer.name"), get(config, "optimizer.lr"), get(config, "optimizer.weight_decay")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=get(config, "optimizer.momentum"), weight_decay=decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay)


def lr_factor(config: dict, step: int, total: int, steps_per_epoch: int) -> float:
    warmup = get(config, "schedule.warmup_epochs") * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if get(config, "schedule.name") == "constant":
        return 1.0
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def aux_terms(module: torch.nn.Module) -> list[tuple[str, str]]:
    """(module path, what it adds) for each module that contributes an auxiliary loss."""
    found = []
    for name, sub in module.named_modules():
        if hasattr(sub, "aux_loss"):
            doc = (type(sub).__doc__ or type(sub).__name__).strip().split("\n")[0]
            found.append((name, AUX_KINDS.get(type(sub).__name__, doc)))
    return found


# How the loss composition names the auxiliary losses of cramnet's own modules.
AUX_KINDS = {"GaussianLatent": "KL(q(z|x) ‖ N(0, I))", "MixtureOfExperts": "load-balancing loss"}


def block_groups(module: torch.nn.Module) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """Parameters by user-level block — each top-level stage, each copy of a repeat — in the module's order,
    named by module path (`pre_ln.3`)."""
    groups = []
    for name, child in module.named_children():
        parts = child.named_children() if isinstance(child, torch.nn.ModuleList) else [("", child)]
        for index, part in parts:
            params = [p for p in part.parameters() if p.requires_grad]
            if params:
                groups.append((f"{name}.{index}" if index else name, params))
    return groups


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
    setup = prepare(spec, config, model, plugins, checked)
    config, checked = setup.config, setup.checked
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
        if config.get("init_from") or config.get("freeze"):
            raise TrainError(
                "init_from and freeze do not work with distributed.strategy fsdp yet",
                "fine-tune with the ddp strategy (the default)",
            )
        inner, new = sharding.build_sharded(checked, seed, setup.device, world, config), None
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
            raise TrainError(f"{out}: no checkpoint to resume from ({last_path} is missing)")
        tensors, meta = ckpt.load(last_path, digest, checked)
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
                "tokenizer": setup.data.tokenizer.to_json() if setup.data.tokenizer else None,
            },
        )
    if console is not None:
        for note in setup.notes:
            console.print(Text(note, style="dim"))
        console.print(
            Text(
                f"{checked.name}: {sum(p.numel() for p in inner.parameters()):,} parameters on "
                f"{setup.device}, data {setup.data.info}; run directory {final_out}"
            )
        )
        console.print(Text(setup.task.loss_text(aux_terms(inner), setup.config["aux_weight"])))
    try:
        _epochs(engine, optimizer, state, out, digest, console, on_epoch_end)
    except torch.OutOfMemoryError:
        raise TrainError(
            f"ran out of memory on {setup.device} with batch size {config['batch_size']}",
            "lower --batch-size, try --precision bf16, or shrink the model",
        ) from None
    final = _finish(engine, state, out, best_path, digest)
    if world.writer:
        publish(out, final_out)
    if world.size > 1 or fsdp:
        if fsdp:  # every process past its last collective before any tears the group down
            import torch.distributed as dist

            dist.barrier()
        leave()
    return RunResult(final_out, final, state["history"], setup.notes)


def _check_memory(setup: Setup) -> None:
    """Refuse, with the numbers, a model whose training step would not fit in free memory."""
    from ..compiler.memory import check_fits, estimate
    from .memory_plan import optimizer_slots

    config = setup.config
    slots = optimizer_slots(get(config, "optimizer.name"), get(config, "optimizer.momentum"))
    need = estimate(setup.checked, None, config["batch_size"], slots)
    check_fits(need, setup.device, setup.checked.name, "train", "--set memory_check=false")


def _check_one_batch(setup: Setup, module: torch.nn.Module) -> None:
    """Run the model on two training examples before anything is written: a model that cannot read
    the data (a `pos_embed` table shorter than the data's sequences, say) is told as a message, not a
    crash in the first step. Random state is left untouched, so resumed runs stay exact."""
    split = setup.data.train
    batch = split.batch(torch.arange(min(2, len(split)))).to(setup.device)
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


def _epochs(engine: Engine, optimizer, state: dict, out: Path, digest: str, console, on_epoch_end) -> None:
    setup, world = engine.setup, engine.world
    config, task, train_split = setup.config, setup.task, setup.data.train
    batch_size, epochs = config["batch_size"], config["epochs"]
    steps = max(1, math.ceil(len(train_split) / batch_size))
    base_lr, clip = get(config, "optimizer.lr"), get(config, "optimizer.grad_clip")
    scaler = torch.amp.GradScaler("cuda", enabled=config["precision"] == "fp16")
    groups = block_groups(engine.inner)
    watch = get(config, "early_stopping.metric")
    watch = task.main_metric if watch == "auto" else watch
    higher = watch in HIGHER_IS_BETTER
    pin = setup.device.type == "cuda"
    from .progress import Reporter

    with Reporter(console, epochs, steps, state["epoch"] + 1) as reporter:
        for epoch in range(state["epoch"] + 1, epochs + 1):
            started = time.perf_counter()
            reporter.start_epoch()
            engine.runner.train()
            order = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(seed_of(config, epoch)))
            sums: dict[str, float] = {}
            norms = {name: torch.zeros((), device=setup.device) for name, _ in groups}
            for step in range(steps):
                whole = order[step * batch_size : (step + 1) * batch_size]
                index = world.shard(whole)
                if len(index) == 0 and len(train_split) > 1:
                    continue
                batch = train_split.batch(index).to(setup.device, pin)
                lr = base_lr * lr_factor(config, (epoch - 1) * steps + step, epochs * steps, steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr * group["new_lr"] / base_lr if "new_lr" in group else lr
                loss, counts, aux = engine.forward(batch)
                total = loss + config["aux_weight"] * sum(aux.values()) if aux else loss
                if not math.isfinite(all_agree(float(total.detach()), setup.device)):
                    kept = out / "checkpoints" / "last.safetensors"
                    raise TrainError(
                        f"the loss became {float(total.detach())} at epoch {epoch}, step {step + 1}; training stopped",
                        (
                            f"the last good checkpoint is kept in {kept}"
                            if kept.exists()
                            else "no checkpoint was written before it"
                        )
                        + "; try a lower --lr or --set optimizer.grad_clip=1, and check the data for nan or inf",
                    )
                if world.size > 1:  # DDP averages the processes' gradients: weight each by its share
                    total = total * (len(index) * world.size / len(whole))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
                scaler.unscale_(optimizer)
                if engine.sharded:
                    for (name, _), value in zip(groups, sharding.block_norms(groups, setup.device)):
                        norms[name] += value
                for name, params in groups if not engine.sharded else ():
                    grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
                    if grads:
                        norms[name] += torch.stack(grads).norm()
                if clip > 0:
                    torch.nn.utils.clip_grad_norm_(engine.inner.parameters(), clip)
                scaler.step(optimizer)
                scaler.update()
                _add(sums, counts)
                _add(sums, {f"aux_{k}": float(v.detach()) for k, v in aux.items()} | {"batches": 1})
                reporter.batch(batch.size)
            sums = _sum_over_world(sums, setup.device)
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in task.metrics(sums).items()}}
            val = evaluate_split(engine, setup.data.val, max(batch_size, 256))
            row |= {f"val_{k}": v for k, v in val.items()} | {"lr": lr, "seconds": time.perf_counter() - started}
            if watch not in val:
                raise TrainError(
                    f"early_stopping.metric '{watch}' is not measured for {task.name}", f"measured: {', '.join(val)}"
                )
            state["history"].append(row)
            state["grad_norms"].append({"epoch": epoch, **{k: float(v) / steps for k, v in norms.items()}})
            value = val[watch]
            if higher:  # ties (a small validation set) go to the lower validation loss
                value = (value, -val["loss"])
                improved = state["best"] is None or value > tuple(state["best"])
            else:
                improved = state["best"] is None or value < state["best"]
            if improved:
                state["best"], state["best_epoch"], state["bad_epochs"] = (list(value) if higher else value), epoch, 0
            else:
                state["bad_epochs"] += 1
            patience = get(config, "early_stopping.patience")
            stop = patience > 0 and state["bad_epochs"] >= patience
            state["epoch"] = epoch
            due = epoch % get(config, "checkpoint.every") == 0 or epoch == epochs or stop
            if engine.sharded:  # every process gathers and writes its part
                if improved:
                    tensors = engine.model_tensors()
                    if world.writer:
                        ckpt.save(out / "checkpoints" / "best.safetensors", tensors, _meta(setup, digest, epoch))
                if due:
                    meta = _meta(setup, digest, epoch) | {"loop": state}
                    sharding.save_sharded(
                        out / "checkpoints" / sharding.SHARDED_DIR, engine.inner, optimizer, meta, world
                    )
            if world.writer:
                if improved and not engine.sharded:
                    ckpt.save(
                        out / "checkpoints" / "best.safetensors",
                        ckpt.model_tensors(engine.inner),
                        _meta(setup, digest, epoch),
                    )
                if due and not engine.sharded:
                    _save_last(engine, optimizer, state, out, digest)
                write_rows(out / "metrics.csv", state["history"])
                write_rows(out / "grad_norms.csv", state["grad_norms"])
            reporter.end_epoch(row, task.main_metric)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if stop:
                if console is not None:
                    console.print(f"early stop: val {watch} has not improved for {patience} epochs")
                break


def seed_of(config: dict, epoch: int) -> int:
    return config["seed"] * 100_003 + epoch


def _sum_over_world(sums: dict, device: torch.device) -> dict:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return sums
    keys = sorted(sums)
    values = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return {k: float(v) for k, v in zip(keys, values)} | {"batches": sums.get("batches", 1)}


def _meta(setup: Setup, digest: str, epoch: int) -> dict:
    return {"spec_hash": digest, "model": setup.checked.name, "epoch": epoch, "task": setup.task.name}


def _save_last(engine: Engine, optimizer, state: dict, out: Path, digest: str) -> None:
    optim_tensors, optim_meta = ckpt.optimizer_tensors(optimizer)
    tensors = ckpt.model_tensors(engine.inner) | optim_tensors | ckpt.rng_tensors()
    meta = _meta(engine.setup, digest, state["epoch"]) | {"optimizer": optim_meta, "loop": state}
    ckpt.save(out / "checkpoints" / "last.safetensors", tensors, meta)


def _finish(engine: Engine, state: dict, out: Path, best_path: Path, digest: str) -> dict:
    """Test metrics of the best-by-validation weights; model.safetensors, final.json and plots."""
    setup = engine.setup
    if best_path.exists() and engine.world.size == 1 and not engine.sharded:
        tensors, _ = ckpt.load(best_path, digest, engine.setup.checked)
        ckpt.load_model(engine.inner, tensors, best_path)
    elif best_path.exists() and engine.sharded:  # rank 0 reads the whole file and sends each process its shards
        tensors = ckpt.load(best_path, digest, engine.setup.checked)[0] if engine.world.writer else {}
        sharding.load_full_state(engine.inner, {k[len("model.") :]: v for k, v in tensors.items() if k[:6] == "model."})
    test = evaluate_split(engine, setup.data.test, max(setup.config["batch_size"], 256))
    final = {f"test_{k}": v for k, v in test.items()}
    final |= {
        "epochs": state["epoch"],
        "best_epoch": state["best_epoch"],
        "seconds": sum(row["seconds"] for row in state["history"]),
    }
    tensors = engine.model_tensors()  # under FSDP the whole model, gathered on rank 0
    plots = engine.world.writer and bool(state["history"])
    write_confusion(engine, setup.data.test, out, plots)  # every process: its forward passes are collective
    if engine.world.writer:
        meta = _meta(setup, digest, state["epoch"]) | {"config": setup.config}
        ckpt.save(out / "model.safetensors", tensors, meta)
        write_json(out / "final.json", final)
        if plots:
            plot_curves(out, state["history"], setup.task.main_metric)
            plot_grad_norms(out, state["grad_norms"])
    return final
