"""The epochs of a run: batches in a seeded order, the task's loss plus the blocks' auxiliary losses,
per-block gradient norms, validation, early stopping and checkpoints; then the test metrics of the
best weights and the run's final files."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..dsl.errors import did_you_mean
from . import checkpoints as ckpt
from . import sharding
from .config import get
from .confusion_plot import write_confusion
from .distributed import all_agree
from .engine import Engine, add_counts, block_groups, evaluate_split, lr_factor, seed_of, sum_over_world
from .errors import TrainError
from .run_dir import plot_curves, plot_grad_norms, write_json, write_rows
from .setup import Setup
from .tasks import HIGHER_IS_BETTER


def run_epochs(engine: Engine, optimizer, state: dict, out: Path, digest: str, console, on_epoch_end) -> None:
    setup, world = engine.setup, engine.world
    config, task = setup.config, setup.task
    epochs = config["epochs"]
    steps = max(1, math.ceil(len(setup.data.train) / config["batch_size"]))
    scaler = torch.amp.GradScaler("cuda", enabled=config["precision"] == "fp16")
    groups = block_groups(engine.inner)
    watch = get(config, "early_stopping.metric")
    watch = task.main_metric if watch == "auto" else watch
    patience = get(config, "early_stopping.patience")
    from .progress import Reporter

    with Reporter(console, epochs, steps, state["epoch"] + 1) as reporter:
        for epoch in range(state["epoch"] + 1, epochs + 1):
            started = time.perf_counter()
            reporter.start_epoch()
            sums, norms, lr = _train_epoch(engine, optimizer, scaler, groups, epoch, steps, out, reporter)
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in task.metrics(sums).items()}}
            val = evaluate_split(engine, setup.data.val, max(config["batch_size"], 256))
            row |= {f"val_{k}": v for k, v in val.items()} | {"lr": lr, "seconds": time.perf_counter() - started}
            if watch not in val:
                raise TrainError(
                    f"early_stopping.metric '{watch}' is not measured for {task.name}",
                    did_you_mean(watch, val) or f"measured: {', '.join(val)}",
                )
            state["history"].append(row)
            state["grad_norms"].append({"epoch": epoch, **{k: float(v) / steps for k, v in norms.items()}})
            improved = _keep_best(state, val, watch, epoch)
            stop = patience > 0 and state["bad_epochs"] >= patience
            state["epoch"] = epoch
            due = epoch % get(config, "checkpoint.every") == 0 or epoch == epochs or stop
            _save(engine, optimizer, state, out, digest, improved, due)
            if world.writer:
                write_rows(out / "metrics.csv", state["history"])
                write_rows(out / "grad_norms.csv", state["grad_norms"])
            reporter.end_epoch(row, task.main_metric)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if stop:
                if console is not None:
                    console.print(f"early stop: val {watch} has not improved for {patience} epochs")
                break


def _train_epoch(engine: Engine, optimizer, scaler, groups, epoch: int, steps: int, out: Path, reporter):
    """One pass over the training split in the epoch's seeded order: the summed counts, the summed
    gradient norm of each block group, the last learning rate."""
    setup, world = engine.setup, engine.world
    config, train_split = setup.config, setup.data.train
    batch_size, epochs = config["batch_size"], config["epochs"]
    base_lr, clip = get(config, "optimizer.lr"), get(config, "optimizer.grad_clip")
    pin = setup.device.type == "cuda"
    engine.runner.train()
    order = torch.randperm(len(train_split), generator=torch.Generator().manual_seed(seed_of(config, epoch)))
    sums: dict[str, float] = {}
    norms = {name: torch.zeros((), device=setup.device) for name, _ in groups}
    lr = base_lr
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
            where = "no checkpoint was written before it"
            if kept.exists():
                where = f"the last good checkpoint is kept in {kept}"
            raise TrainError(
                f"the loss became {float(total.detach())} at epoch {epoch}, step {step + 1}; training stopped",
                where + "; try a lower --lr or --set optimizer.grad_clip=1, and check the data for nan or inf",
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
        add_counts(sums, counts)
        add_counts(sums, {f"aux_{k}": float(v.detach()) for k, v in aux.items()} | {"batches": 1})
        reporter.batch(batch.size)
    return sum_over_world(sums, setup.device), norms, lr


def _keep_best(state: dict, val: dict, watch: str, epoch: int) -> bool:
    """Whether this epoch is the best so far by the watched validation metric (recorded in `state`)."""
    value = val[watch]
    higher = watch in HIGHER_IS_BETTER
    if higher:  # ties (a small validation set) go to the lower validation loss
        value = (value, -val["loss"])
        improved = state["best"] is None or value > tuple(state["best"])
    else:
        improved = state["best"] is None or value < state["best"]
    if improved:
        state["best"], state["best_epoch"], state["bad_epochs"] = (list(value) if higher else value), epoch, 0
    else:
        state["bad_epochs"] += 1
    return improved


def _save(engine: Engine, optimizer, state: dict, out: Path, digest: str, improved: bool, due: bool) -> None:
    """best.safetensors when the epoch improved; the resumable last checkpoint when one is due."""
    setup, world = engine.setup, engine.world
    epoch = state["epoch"]
    if engine.sharded:  # every process gathers and writes its part
        if improved:
            tensors = engine.model_tensors()
            if world.writer:
                ckpt.save(out / "checkpoints" / "best.safetensors", tensors, _meta(setup, digest, epoch))
        if due:
            meta = _meta(setup, digest, epoch) | {"loop": state}
            sharding.save_sharded(out / "checkpoints" / sharding.SHARDED_DIR, engine.inner, optimizer, meta, world)
    elif world.writer:
        if improved:
            best = ckpt.model_tensors(engine.inner)
            ckpt.save(out / "checkpoints" / "best.safetensors", best, _meta(setup, digest, epoch))
        if due:
            _save_last(engine, optimizer, state, out, digest)


def _meta(setup: Setup, digest: str, epoch: int) -> dict:
    return {"spec_hash": digest, "model": setup.checked.name, "epoch": epoch, "task": setup.task.name}


def _save_last(engine: Engine, optimizer, state: dict, out: Path, digest: str) -> None:
    optim_tensors, optim_meta = ckpt.optimizer_tensors(optimizer)
    tensors = ckpt.model_tensors(engine.inner) | optim_tensors | ckpt.rng_tensors()
    meta = _meta(engine.setup, digest, state["epoch"]) | {"optimizer": optim_meta, "loop": state}
    ckpt.save(out / "checkpoints" / "last.safetensors", tensors, meta)


def finish(engine: Engine, state: dict, out: Path, best_path: Path, digest: str) -> dict:
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
