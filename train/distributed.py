"""More than one process: DistributedDataParallel started by PyTorch's own launcher (torchrun).

`cramnet train --nproc N` re-runs the same command under `python -m torch.distributed.run` with
`--nproc_per_node N` (and torchrun's multi-node rendezvous flags, passed through); each process finds
its rank in the environment torchrun sets. gloo on the CPU, NCCL on CUDA. Every process takes its
slice of each global batch; only rank 0 writes files or prints progress.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def writer(self) -> bool:
        return self.rank == 0

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This process's part of a global batch (contiguous slices, as equal as they come)."""
        return index if self.size == 1 else torch.tensor_split(index, self.size)[self.rank]


def join(device: torch.device, always: bool = False) -> World:
    """The process group torchrun set up for us, or a world of one (with `always`, a process group
    of one too: FSDP needs one even alone)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1 and not always:
        return World()
    import torch.distributed as dist

    if size == 1 and "MASTER_ADDR" not in os.environ:  # not under torchrun: an in-memory store will do
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def launched() -> bool:
    """Whether this process is one of several that torchrun started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def leave() -> None:
    """Tear the process group down once every process is past its last collective and the writer
    has written: a process that leaves while another still works may abort on exit (gloo, seen
    under load), which fails a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def launch_command(argv: list[str], nproc: int, rendezvous: dict[str, str | None]) -> list[str]:
    """The torchrun command line that runs `cramnet <argv>` in `nproc` processes per node."""
    flags = [f"--nproc_per_node={nproc}"]
    flags += [f"--{name}={value}" for name, value in rendezvous.items() if value is not None]
    if not any(name in rendezvous and rendezvous[name] for name in ("rdzv_endpoint", "master_addr")):
        flags.append("--standalone")  # one machine: torchrun picks a free port
    return [sys.executable, "-m", "torch.distributed.run", *flags, "-m", "cramnet.cli", *argv]


def all_agree(value: float, device: torch.device) -> float:
    """The maximum of `value` over the processes (so a NaN anywhere stops everyone)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor)
