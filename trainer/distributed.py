"""Data parallelism across processes (``torchrun``), or a no-op single process.

Gradients are averaged with one all-reduce per model and step instead of wrapping the models in
DistributedDataParallel: DDP's reducer does not support the double backward of R1 and path-length
regularisation, and the GAN's alternating G/D updates would need separate wrappers anyway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls) -> Distributed:
        """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
        return cls(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))

    def average_gradients(self, module: torch.nn.Module) -> None:
        if self.world == 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def any(self, flag: bool) -> bool:
        """True on every process if it is true on any (to stop or checkpoint together)."""
        if self.world == 1:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every process's copy of a same-shaped CPU tensor (RNG states for checkpoints)."""
        if self.world == 1:
            return [tensor]
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor)
        return parts

    def close(self, finished: bool = False) -> None:
        """Leave the process group. A run that ``finished`` first waits for every process to
        finish too, so none tears its connections down while another is still finishing its
        last exchange over them. After a failure nothing waits: the others may never come.
        (A process can still abort in the interpreter's teardown after this: see
        ``test_two_gloo_processes_train_in_lockstep``.)"""
        if self.world > 1 and dist.is_initialized():
            if finished:
                dist.barrier()
            dist.destroy_process_group()
