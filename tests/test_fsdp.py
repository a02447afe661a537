"""`--strategy fsdp`: FSDP2 over two gloo processes on the CPU — the same weights as a one-process
build, the same loss curve, exact resume after kill -9, resume on another number of processes, the
consolidated weights evaluate; memory plans of a 7B-shaped spec without allocating; layer
checkpointing leaves gradients as they were."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.train import apply_sets, defaults, train
from cramnet.train.memory_plan import plan_memory
from cramnet.train.sharding import checkpoint_layers, layer_units

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
runner = CliRunner()

# a repeat, a shared repeat and no dropout: one process and two reach the same weights
LAYERED = """
block layer(d) { residual { layernorm -> dense(d) -> gelu -> dense(d) } }

model layered {
    input image: [1, 8, 8]
    image -> flatten -> dense(24) -> layer(24) * 3 -> layer(24) * 2 shared -> dense(10) as logits
    output logits
}
"""

WORKER = """
import sys, torch
import torch.distributed as dist
from cramnet.compiler import check_spec
from cramnet.train import apply_sets, defaults
from cramnet.train.distributed import join
from cramnet.train.sharding import build_sharded, full_state

world = join(torch.device("cpu"), always=True)
for spec in sys.argv[1:]:
    checked = check_spec(spec)
    config = apply_sets(defaults(), ["distributed.strategy=fsdp", "distributed.checkpoint_layers=true"])
    sharded = full_state(build_sharded(checked, 7, torch.device("cpu"), world, config))
    if world.rank == 0:
        whole = checked.build(seed=7).state_dict()
        assert sharded.keys() == whole.keys(), (spec, set(sharded) ^ set(whole))
        for key, value in whole.items():
            assert torch.equal(sharded[key], value), (spec, key)
        print("same", spec, len(whole))
dist.barrier()  # rank 1 leaving while rank 0 still compares aborted it on exit (SIGABRT, under load)
dist.destroy_process_group()
"""


def cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cramnet.cli", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def weights(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith("model.")}


def losses(run: Path, column: str) -> list[float]:
    lines = (run / "metrics.csv").read_text().splitlines()
    at = lines[0].split(",").index(column)
    return [float(line.split(",")[at]) for line in lines[1:]]


@pytest.fixture
def layered(tmp_path):
    path = tmp_path / "layered.cram"
    path.write_text(LAYERED)
    return path


def test_units_are_the_copies_of_repeats_and_whole_mixtures():
    from cramnet.blocks.moe import MixtureOfExperts

    module = check_spec(SPECS / "mixtral_small.cram").build(seed=0)
    names = {id(m): n for n, m in module.named_modules()}
    units = [names[id(u)] for u in layer_units(module)]
    assert units[:4] == [f"moe_layer.{i}.moe_1" for i in range(4)]  # innermost first
    assert units[4:] == [f"moe_layer.{i}" for i in range(4)]
    assert all(isinstance(module.get_submodule(u), MixtureOfExperts) for u in units[:4])
    shared = check_spec(LAYERED).build(seed=0)
    names = {id(m): n for n, m in shared.named_modules()}
    assert [names[id(u)] for u in layer_units(shared)] == ["layer_1.0", "layer_1.1", "layer_1.2"]  # not the shared one


@pytest.mark.slow
def test_a_sharded_build_has_the_weights_of_a_single_process_build(tmp_path, layered):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    specs = [str(layered), str(SPECS / "mixtral_small.cram"), str(SPECS / "vit_digits.cram")]
    done = subprocess.run(command + specs, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("same") == 3


def _kill_after_first_checkpoint(command: list[str], meta: Path) -> int:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while process.poll() is None:
            if meta.exists() and json.loads(meta.read_text())["loop"]["epoch"] >= 1:
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        return process.wait(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_two_sharded_processes_follow_one_evaluate_and_resume_after_kill_9_with_the_same_weights(tmp_path):
    # one test, so that the FSDP run is made once: a launch of two processes costs ~25 s of start-up
    # on a 2-core machine, little of it training
    common = [str(SPECS / "vit_digits.cram"), "--epochs", "2", "--batch-size", "64", "--quiet", "--device", "cpu"]
    sharded = ["--nproc", "2", "--strategy", "fsdp"]
    cli("train", *common, "--out", str(tmp_path / "one"))
    cli("train", *common, *sharded, "--out", str(tmp_path / "fsdp"))
    cli("train", *common, "--nproc", "2", "--out", str(tmp_path / "ddp"))
    for column in ("train_loss", "val_loss"):
        one, fsdp, ddp = (losses(tmp_path / name, column) for name in ("one", "fsdp", "ddp"))
        # the same weights to start; each process draws its own half of the dropout masks, so one process
        # differs a little (measured: 0.03% after one epoch, 0.3% after two) and DDP on two not at all
        assert fsdp == pytest.approx(one, rel=0.01), column
        assert fsdp == pytest.approx(ddp, rel=1e-5), column
    run = tmp_path / "fsdp"
    assert (run / "checkpoints" / "last.sharded" / "cramnet.json").is_file()
    assert weights(run / "model.safetensors").keys() == weights(tmp_path / "one" / "model.safetensors").keys()
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output

    cut = tmp_path / "cut"  # the same run killed after its first epoch's checkpoint, then resumed
    command = [sys.executable, "-m", "cramnet.cli", "train", *common, *sharded, "--out", str(cut)]
    if _kill_after_first_checkpoint(command, cut / "checkpoints" / "last.sharded" / "cramnet.json") == 0:
        pytest.skip("the run finished before it could be killed")
    cli("train", "--resume", str(cut), "--nproc", "2", "--quiet")
    whole, resumed = weights(run / "model.safetensors"), weights(cut / "model.safetensors")
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key


@pytest.mark.slow
def test_a_sharded_run_resumes_on_another_number_of_processes(tmp_path, layered):
    def config(name: str) -> dict:
        sets = [f"out={tmp_path / name}", "epochs=3", "batch_size=64", "threads=1", "device=cpu"]
        return apply_sets(defaults(), sets + ["distributed.strategy=fsdp"])

    train(layered, config("whole"))  # one process (a process group of one)

    def interrupt(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(layered, config("cut"), on_epoch_end=interrupt)
    _leave()
    cli("train", "--resume", str(tmp_path / "cut"), "--nproc", "2", "--quiet")
    whole = weights(tmp_path / "whole" / "model.safetensors")
    resumed = weights(tmp_path / "cut" / "model.safetensors")
    for key in whole:  # two processes add gradients in another order: equal up to rounding
        torch.testing.assert_close(whole[key], resumed[key], rtol=1e-4, atol=1e-5)


def _leave():
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def test_layer_checkpointing_leaves_the_gradients_as_they_were():
    checked = check_spec(SPECS / "vit_digits.cram")
    plain, wrapped = checked.build(seed=3).eval(), checked.build(seed=3).eval()
    checkpoint_layers(wrapped)
    assert plain.state_dict().keys() == wrapped.state_dict().keys()  # the run directory's format holds
    image = torch.rand(4, 1, 8, 8)
    plain(image).square().sum().backward()
    wrapped(image).square().sum().backward()
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, param in wrapped.named_parameters():
        assert torch.equal(param.grad, grads[name.replace("_checkpoint_wrapped_module.", "")]), name


def test_a_7b_spec_builds_on_meta_and_plans_its_sharded_memory():
    checked = check_spec(SPECS / "reference" / "llama2_7b.cram")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.device("meta"):
        module = checked.build(seed=0)
    assert sum(p.numel() for p in module.parameters()) == 6_738_415_616
    assert all(p.is_meta for p in module.parameters())
    plan = plan_memory(checked, processes=8, strategy="fsdp", precision="bf16", batch=8, sizes={"seq": 4096})
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 2**30  # KiB on Linux
    params = 6_738_415_616
    assert plan.rows["parameters"] == plan.rows["gradients"] == 4 * params // 8
    assert plan.rows["optimizer"] == 8 * params // 8
    assert plan.rows["activations"] > 0 and plan.total < 80 * 2**30  # fits an 80 GB device
    alone = plan_memory(checked, processes=1, strategy="ddp", precision="bf16", batch=1, sizes={"seq": 4096})
    assert alone.rows["parameters"] + alone.rows["gradients"] + alone.rows["optimizer"] == 16 * params


def test_summary_reports_the_plan_and_train_refuses_one_that_cannot_fit(tmp_path, layered):
    result = runner.invoke(
        app, ["summary", str(SPECS / "reference" / "llama2_7b.cram"), "--nproc", "8", "--strategy", "fsdp", "--json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)["plan"]
    assert plan["per_device_bytes"]["optimizer"] == 6_738_415_616 and plan["unresolved_sizes"] == ["seq"]
    llama = [str(SPECS / "reference" / "llama2_7b.cram"), "--dim", "seq=4096", "--precision", "bf16", "--json"]
    kept, recomputed = (
        json.loads(runner.invoke(app, ["summary", *llama, "--nproc", "8", "--strategy", "fsdp", *extra]).output)
        for extra in ([], ["--checkpoint-layers"])
    )
    kept, recomputed = kept["plan"]["per_device_bytes"], recomputed["plan"]["per_device_bytes"]
    assert recomputed["activations"] < kept["activations"] / 4
    assert recomputed["weight copies"] == 2 * 3 * 4096**2  # one layer's q, k and v, recomputed, in bf16
    result = runner.invoke(
        app,
        ["train", str(layered), "--strategy", "fsdp", "--device", "cpu", "--out", str(tmp_path / "r")]
        + ["--set", "distributed.memory_limit_gb=0.0001", "--epochs", "1"],
    )
    assert result.exit_code != 0 and "does not fit" in result.output and "GiB" in result.output
    assert "Traceback" not in result.output


def test_one_sharded_process_trains_as_plain_training_offloaded_recomputed_or_not(tmp_path, layered):
    def run(name: str, *sets: str) -> dict[str, torch.Tensor]:
        config = apply_sets(
            defaults(),
            [f"out={tmp_path / name}", "epochs=1", "batch_size=128", "threads=1", "device=cpu"]
            + ["distributed.strategy=fsdp", *sets],
        )
        return weights(train(layered, config).out / "model.safetensors")

    plain, offloaded = run("plain"), run("offload", "distributed.offload=true")
    assert all(torch.equal(plain[k], offloaded[k]) for k in plain)
    recomputed = run("recomputed", "distributed.checkpoint_layers=true")  # composes with FSDP
    assert all(torch.equal(plain[k], recomputed[k]) for k in plain)
    unsharded = run("ddp", "distributed.strategy=ddp")  # FSDP alone is plain training
    for key in plain:
        torch.testing.assert_close(plain[key], unsharded[key], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_mixture_of_experts_trains_sharded_expert_by_expert_or_batched_in_recomputed_layers(tmp_path):
    # experts run only where tokens are routed, differently on each process: one unit per mixture keeps
    # every process in step (per-expert units would wait for each other). Sharded, a mixture runs its
    # experts one by one, every one on every process; in recomputed layers, batched (vmap on a CPU)
    common = [str(SPECS / "mixtral_small.cram"), "--epochs", "1", "--quiet", "--device", "cpu"]
    common += ["--set", "data.options.length=32"]
    cli("train", *common, "--out", str(tmp_path / "one"))
    sharded = ["--nproc", "2", "--strategy", "fsdp"]
    cli("train", *common, "--out", str(tmp_path / "fsdp"), *sharded)
    recompute = ["--set", "distributed.checkpoint_layers=true"]
    cli("train", *common, "--out", str(tmp_path / "recomputed"), *sharded, *recompute)
    one = losses(tmp_path / "one", "train_loss")
    assert losses(tmp_path / "fsdp", "train_loss") == pytest.approx(one, rel=1e-4)
    assert losses(tmp_path / "recomputed", "train_loss") == pytest.approx(one, rel=1e-4)


@pytest.mark.parametrize("recomputed", [False, True])
def test_a_sharded_build_stacks_whole_weights_only_in_recomputed_layers(recomputed):
    # attention's stacked q/k/v and a mixture's stacked experts are kept for the backward pass whole,
    # outliving FSDP's freeing of each layer's weights after its forward: sharded, neither is made —
    # but in layers `checkpoint_layers` recomputes, which keep nothing and stack again in backward
    from cramnet.blocks.attention import SelfAttention
    from cramnet.blocks.moe_dispatch import MixtureOfExperts
    from cramnet.train.distributed import join
    from cramnet.train.sharding import build_sharded

    checked = check_spec(SPECS / "mixtral_small.cram")
    tokens = torch.zeros(4, 128)
    plain = [m for m in checked.build(seed=0).modules() if isinstance(m, MixtureOfExperts)]
    assert plain and all(m.choose_path(tokens) == "vmap" for m in plain)
    world = join(torch.device("cpu"), always=True)
    try:
        sets = ["distributed.strategy=fsdp", "device=cpu", f"distributed.checkpoint_layers={recomputed}"]
        module = build_sharded(checked, 0, torch.device("cpu"), world, apply_sets(defaults(), sets))
        mixtures = [m for m in module.modules() if isinstance(m, MixtureOfExperts)]
        path = "vmap" if recomputed else "loop"
        assert len(mixtures) == 4 and all(m.choose_path(tokens) == path for m in mixtures)
        attention = [m for m in module.modules() if isinstance(m, SelfAttention)]
        assert len(attention) == 4 and all(m.stack_weights == recomputed for m in attention)
    finally:
        _leave()


@pytest.mark.parametrize(("spec", "layers"), [("gpt2.cram", 12), ("mixtral_small.cram", 4)])
def test_the_plans_count_the_stacked_weight_copies_the_backward_pass_keeps(spec, layers):
    from cramnet.blocks.attention import SelfAttention
    from cramnet.blocks.moe_dispatch import MixtureOfExperts
    from cramnet.compiler.memory import estimate

    checked = check_spec(SPECS / spec)
    with torch.device("meta"):
        module = checked.build(seed=0)
    stacked = 0  # what the modules stack: q, k and v of each self-attention, the experts a vmapped mixture stacks
    for part in module.modules():
        if isinstance(part, SelfAttention):
            stacked += sum(p.numel() for lin in (part.q_proj, part.k_proj, part.v_proj) for p in lin.parameters())
        elif isinstance(part, MixtureOfExperts) and "vmap" in part.paths:
            stacked += sum(p.numel() for p in part.experts.parameters())
    assert stacked > 0
    params = sum(p.numel() for p in module.parameters())
    sizes = {"seq": 64}
    assert plan_memory(checked, sizes=sizes).rows["weight copies"] == 4 * stacked
    assert plan_memory(checked, sizes=sizes, precision="bf16").rows["weight copies"] == 2 * params  # autocast's casts
    assert "weight copies" not in plan_memory(checked, processes=2, strategy="fsdp", sizes=sizes).rows
    assert estimate(checked, sizes, batch=1).copies == 4 * stacked
    # recomputed layers stack again one at a time, in backward: one layer's copies (the layers alike)
    recomputed = {"sizes": sizes, "checkpoint_layers": True}
    assert plan_memory(checked, **recomputed).rows["weight copies"] == 4 * stacked // layers
    fsdp = plan_memory(checked, processes=2, strategy="fsdp", precision="bf16", **recomputed)
    assert fsdp.rows["weight copies"] == 2 * stacked // layers  # gathered in bf16
