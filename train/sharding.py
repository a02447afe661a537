"""Models larger than one device: fully sharded data parallelism (FSDP2, `fully_shard`), built without
allocating the whole model anywhere.

- **Units.** Each copy of a repeated layer (every element of an `nn.ModuleList` the generated code
  loops over) is sharded as one unit, then the root: a layer's weights are gathered just before it
  runs and freed after. A mixture of experts is one unit (router and experts together): experts run
  only on the tokens routed to them, so an expert may run on one process and not on another, and the
  grouped path reads the experts' weights without calling them — per-expert units would wait forever
  for a gather one process never starts. A shared stage (`* N shared`) is one module called N times and
  stays inside its parent's unit.
- **Building.** The spec's module is constructed under a registration hook: as each finished block
  module is attached to a generated class, its tensors are replaced by `meta` tensors and only this
  process's slice of each parameter (dim 0, the slice `fully_shard` keeps) is kept. So no more than
  one block's weights exist whole at a time, and every parameter has exactly the value a
  single-process `build(seed)` gives it: the constructors run in the same order on the same random
  stream. After sharding, `to_empty` allocates the shards on the device and the kept slices fill them.
- **Checkpoints.** `torch.distributed.checkpoint` with its safetensors storage: each process writes
  its shards (`checkpoints/last.sharded/`), offsets in the file headers, loop state in JSON — no
  pickle, and a run resumes on any number of processes.
"""

from __future__ import annotations

import json
import os
import shutil
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from ..compiler.codegen import is_generated
from .config import get
from .distributed import World
from .errors import TrainError

SHARDED_DIR = "last.sharded"
Start = Callable[[nn.Module], Iterable[tuple[str, torch.Tensor]]]


class _Slicer:
    """Keeps this process's slice of every tensor as block modules are attached to generated classes,
    and leaves `meta` tensors in the module."""

    def __init__(self, world: World):
        self.world = world
        self.kept: dict[torch.Tensor, torch.Tensor] = {}  # meta tensor -> its slice (parameters) or value (buffers)
        # id of an original parameter -> (a weak reference to it, its meta stand-in): not kept alive here
        self.replaced: dict[int, tuple[weakref.ref, nn.Parameter]] = {}
        # modules whose tensors were replaced by meta stand-ins; weakly held, since an id of a module
        # gone could be a new module's, whose parameters must not be taken before it is finished
        self.stripped: weakref.WeakSet[nn.Module] = weakref.WeakSet()

    def __call__(self, parent: nn.Module, name: str, child: nn.Module | None):
        if child is not None and is_generated(parent):  # the child and its parts are finished
            self.strip(child)
        return None

    def on_parameter(self, owner: nn.Module, name: str, param: nn.Parameter | None):
        """A parameter set on a module already stripped (an initialisation after the build, such as a tied
        embedding's): keep this rank's slice of it too."""
        if param is None or param.is_meta or owner not in self.stripped:
            return None
        empty = nn.Parameter(torch.empty_like(param, device="meta"), requires_grad=param.requires_grad)
        self.kept[empty] = self.slice(param.detach())
        return empty

    def strip(self, module: nn.Module) -> None:
        for owner in module.modules():
            self.stripped.add(owner)
            for name, param in list(owner._parameters.items()):
                if param is None or param.is_meta:
                    continue
                original, stand_in = self.replaced.get(id(param), (None, None))
                if original is not None and original() is param:  # one tensor held by two modules stays one
                    owner._parameters[name] = stand_in
                    continue
                empty = nn.Parameter(torch.empty_like(param, device="meta"), requires_grad=param.requires_grad)
                self.kept[empty] = self.slice(param.detach())
                self.replaced[id(param)] = (weakref.ref(param), empty)
                owner._parameters[name] = empty
            for name, buffer in list(owner._buffers.items()):
                if buffer is None or buffer.is_meta:
                    continue
                empty = torch.empty_like(buffer, device="meta")
                self.kept[empty] = buffer.detach().clone()
                owner._buffers[name] = empty

    def slice(self, tensor: torch.Tensor) -> torch.Tensor:
        """The part `fully_shard` keeps on this rank: the rank-th of `torch.chunk` along dim 0
        (empty past the last chunk)."""
        if tensor.dim() == 0:
            return tensor.clone()
        chunks = torch.chunk(tensor, self.world.size, dim=0)
        if self.world.rank < len(chunks):
            return chunks[self.world.rank].clone()
        return tensor.new_empty((0, *tensor.shape[1:]))


def build_sharded(
    checked, seed: int, device: torch.device, world: World, config: dict, start: Start | None = None
) -> nn.Module:
    """The spec's module, sharded over the world's processes, with the weights `checked.build(seed)`
    would have (per parameter), never whole in this process's memory. `start`, given the module
    before it is sharded (its tensors on `meta`), may freeze parameters and returns tensors that
    replace the initial ones by state-dict key (published weights, read one at a time)."""
    from torch.nn.modules.module import (
        register_module_module_registration_hook,
        register_module_parameter_registration_hook,
    )

    slicer = _Slicer(world)
    handles = [
        register_module_module_registration_hook(slicer),
        register_module_parameter_registration_hook(slicer.on_parameter),
    ]
    try:
        module = checked.build(seed=seed)
    finally:
        for handle in handles:
            handle.remove()
    slicer.strip(module)  # anything the root holds itself
    if start is not None:  # a fine-tune: this process's slice of each published tensor instead
        state = module.state_dict(keep_vars=True)
        for key, tensor in start(module):
            target = state[key]
            value = tensor.detach().to(target.dtype)
            slicer.kept[target] = slicer.slice(value) if isinstance(target, nn.Parameter) else value.clone()
    recomputed = checkpoint_layers(module) if get(config, "distributed.checkpoint_layers") else []
    # a stacked copy of whole weights kept for backward (attention's q/k/v, a mixture's experts) would
    # outlive FSDP's freeing them; a recomputed layer keeps nothing, and makes it again only in backward
    stacking = {id(part) for layer in recomputed for part in layer.modules()}
    for part in module.modules():
        if hasattr(part, "stack_weights") and id(part) not in stacking:
            part.stack_weights = False
    params = {name: slicer.kept[p] for name, p in module.named_parameters()}
    buffers = {name: slicer.kept[b] for name, b in module.named_buffers()}
    del slicer
    shard(module, config, device)
    offload = get(config, "distributed.offload")
    module.to_empty(device="cpu" if offload else device)  # offloaded shards live on the CPU
    with torch.no_grad():
        for name, param in module.named_parameters():
            local = param.to_local() if hasattr(param, "to_local") else param
            kept = params[name]
            if local.shape != kept.shape:
                raise RuntimeError(f"{name}: shard {tuple(local.shape)} but kept {tuple(kept.shape)}")
            local.copy_(kept)
        for name, buffer in module.named_buffers():
            buffer.copy_(buffers[name])
    if offload:  # buffers are not sharded or offloaded: they go where the computation is
        for owner in module.modules():
            for name, buffer in owner._buffers.items():
                if buffer is not None:
                    owner._buffers[name] = buffer.to(device)
    return module


def layer_units(module: nn.Module) -> list[nn.Module]:
    """What is sharded on its own, innermost first: every mixture of experts (as one), then every copy
    of a repeated layer. A shared stage is never in a ModuleList, so it is never split per call."""
    from ..blocks.moe import MixtureOfExperts

    experts = {id(m.experts) for m in module.modules() if isinstance(m, MixtureOfExperts)}
    units = [m for m in module.modules() if isinstance(m, MixtureOfExperts)]
    for owner in module.modules():
        if isinstance(owner, nn.ModuleList) and id(owner) not in experts:
            units += [copy for copy in owner if any(True for _ in copy.parameters())]
    # innermost first: fully_shard wants a unit's sub-units sharded before it
    depth = {id(m): name.count(".") + 1 for name, m in module.named_modules()}
    return sorted(dict.fromkeys(units), key=lambda m: -depth[id(m)])


def shard(module: nn.Module, config: dict, device: torch.device) -> None:
    """`fully_shard` each layer unit and then the root, with the run's precision and offload."""
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, OffloadPolicy, fully_shard

    precision = config["precision"]
    # mixed precision as published practice has it: low-precision weights in compute, fp32 gradient reduction
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    policy = MixedPrecisionPolicy(param_dtype=low, reduce_dtype=torch.float32 if low else None)
    # pinned host memory needs an accelerator; on a CPU-only machine offloading is a no-op kept for tests
    offload = (
        CPUOffloadPolicy(pin_memory=device.type == "cuda") if get(config, "distributed.offload") else OffloadPolicy()
    )
    for unit in layer_units(module):
        fully_shard(unit, mp_policy=policy, offload_policy=offload)
    fully_shard(module, mp_policy=policy, offload_policy=offload)


def checkpoint_layers(module: nn.Module) -> list[nn.Module]:
    """Recompute each repeated layer's activations in the backward pass instead of keeping them
    (`distributed.checkpoint_layers`): each copy in a ModuleList is wrapped in place; the wrapped
    copies are returned."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    from ..blocks.moe import MixtureOfExperts

    experts = {id(m.experts) for m in module.modules() if isinstance(m, MixtureOfExperts)}
    wrapped = []
    for owner in list(module.modules()):
        if isinstance(owner, nn.ModuleList) and id(owner) not in experts:
            for index, copy in enumerate(owner):
                owner[index] = checkpoint_wrapper(copy)
                wrapped.append(copy)
    return wrapped


WRAPPED = "_checkpoint_wrapped_module."


def strip_key(key: str) -> str:
    """A module path without the checkpoint wrapper's own level (the run directory's format)."""
    return key.replace(WRAPPED, "")


def strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {strip_key(key): value for key, value in state.items()}


def full_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's weights on rank 0's CPU (every process must call it; the others get {})."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return strip_wrappers(get_model_state_dict(module, options=options))


def load_full_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Rank 0's full weights (`state`, {} on the others) into the sharded module."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    wrapped = {strip_key(k): k for k in module.state_dict()}
    state = {wrapped.get(k, k): v for k, v in state.items()}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(module, state, options=options)


def _split_optimizer(flat: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {f"optim.{k}": v for k, v in flat.items() if isinstance(v, torch.Tensor)}
    scalars = {k: v for k, v in flat.items() if not isinstance(v, torch.Tensor)}
    return tensors, scalars


def _state_dicts(module: nn.Module, optimizer) -> tuple[dict, dict]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(module, optimizer, options=StateDictOptions(flatten_optimizer_state_dict=True))


def save_sharded(folder: Path, module: nn.Module, optimizer, meta: dict, world: World) -> None:
    """Every process writes its shards; rank 0 the JSON. Written beside and renamed, so a run killed
    while saving keeps its previous checkpoint."""
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp

    model_state, optim_state = _state_dicts(module, optimizer)
    optim_tensors, scalars = _split_optimizer(optim_state)
    state = {f"model.{k}": v for k, v in model_state.items()} | optim_tensors | {"rng.torch": torch.get_rng_state()}
    temporary = folder.with_name(f".{folder.name}.tmp")
    if world.writer:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    dist.barrier()
    dcp.save(state, storage_writer=dcp.HuggingFaceStorageWriter(str(temporary), save_distributed=True))
    if world.writer:
        meta = meta | {"optimizer_scalars": scalars, "processes": world.size}
        (temporary / "cramnet.json").write_text(json.dumps(meta, indent=1) + "\n")
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(temporary, folder)
        shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def read_sharded_meta(folder: Path, expect_hash: str) -> dict:
    try:
        meta = json.loads((folder / "cramnet.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise TrainError(f"{folder}: not a readable sharded checkpoint ({error})") from None
    if meta.get("spec_hash") != expect_hash:
        raise TrainError(
            f"{folder} was written for a different spec (model '{meta.get('model')}', spec hash "
            f"{meta.get('spec_hash')}; this spec hashes to {expect_hash})",
            "resume with the spec that made the run, or start a new run",
        )
    return meta


def load_sharded(folder: Path, module: nn.Module, optimizer, meta: dict) -> None:
    """Shards written by any number of processes into this world's shards (DCP reshards)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    model_state, optim_state = _state_dicts(module, optimizer)  # templates: shapes and placements
    optim_tensors, _ = _split_optimizer(optim_state)
    state = {f"model.{k}": v for k, v in model_state.items()} | optim_tensors | {"rng.torch": torch.get_rng_state()}
    dcp.load(state, storage_reader=dcp.HuggingFaceStorageReader(str(folder)))
    model_state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    optim_state = {k[len("optim.") :]: v for k, v in state.items() if k.startswith("optim.")}
    optim_state |= meta["optimizer_scalars"]
    set_state_dict(
        module,
        optimizer,
        model_state_dict=model_state,
        optim_state_dict=optim_state,
        options=StateDictOptions(flatten_optimizer_state_dict=True),
    )
    torch.set_rng_state(state["rng.torch"])


def block_norms(groups: list[tuple[str, list[nn.Parameter]]], device: torch.device) -> torch.Tensor:
    """Each group's gradient norm, with sharded gradients summed over the processes (one all-reduce)."""
    import torch.distributed as dist

    squares = []
    for _, params in groups:
        local = [p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad for p in params if p.grad is not None]
        squares.append(sum((g.detach().float().square().sum() for g in local), torch.zeros((), device=device)))
    total = torch.stack(squares) if squares else torch.zeros(0, device=device)
    if dist.is_initialized():
        dist.all_reduce(total)
    return total.sqrt()


def data_sizes(setup) -> dict[str, int]:
    """The run-time sizes (`seq` …) one example of the training data gives the model's inputs."""
    from ..blocks.dims import is_known

    batch = setup.data.train.batch(torch.arange(1))
    sizes: dict[str, int] = {}
    for name, kind in setup.checked.input_types.items():
        shape = batch.inputs[name].shape[1:] if name in batch.inputs else ()
        for dim, size in zip(kind.dims, shape):
            if not is_known(dim) and str(dim).isidentifier():
                sizes[str(dim)] = int(size)
    return sizes


def check_plan(setup, processes: int) -> None:
    """Refuse, with the numbers, a run whose planned memory per device exceeds what the device has."""
    from ..errors import DeviceUnavailable
    from .memory_plan import describe, gib, plan_from_config

    config, device = setup.config, setup.device
    limit = get(config, "distributed.memory_limit_gb")
    if limit is not None:
        capacity = int(limit * 2**30)
    elif get(config, "distributed.strategy") != "fsdp":
        return  # plain training keeps its out-of-memory message unless a limit is given
    elif device.type == "cuda":
        capacity = torch.cuda.get_device_properties(device).total_memory
    else:
        return  # the CPU's memory is shared with everything else: only an explicit limit is checked
    plan = plan_from_config(setup.checked, config, processes, data_sizes(setup))
    if plan.total > capacity:
        raise DeviceUnavailable(
            f"{setup.checked.name} does not fit: the plan needs {describe(plan)}, the device has {gib(capacity)}",
            "use more processes (--nproc), --strategy fsdp, --set distributed.offload=true, "
            "--set distributed.checkpoint_layers=true, --precision bf16 or a smaller --batch-size "
            "(cramnet summary --nproc N --strategy fsdp shows the plan)",
        )
