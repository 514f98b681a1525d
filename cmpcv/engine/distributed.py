"""Process-group setup for DDP and the few collectives training needs.

Launch forms that work without code changes:

- ``torchrun --nproc_per_node=N -m cmpcv.train ...`` (one node or many): torchrun sets ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``.
- ``srun`` with one task per GPU (e.g. through ``hydra/launcher=submitit_slurm`` with
  ``tasks_per_node``): SLURM sets ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``; the master
  address is the first host of ``SLURM_JOB_NODELIST`` (resolved by submitit when it is available).

Backend: nccl when CUDA is used, gloo on CPUs.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _slurm_env() -> None:
    """Fill torchrun's variables from SLURM's when the job was started by ``srun`` (one process
    per task) rather than torchrun. Leaves everything alone under torchrun."""
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    try:  # submitit knows how to pick the master node and a port.
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return
    except Exception:  # noqa: BLE001 - fall back to a plain reading of the SLURM variables
        pass
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    nodes = os.environ.get("SLURM_JOB_NODELIST", "localhost")
    os.environ.setdefault("MASTER_ADDR", nodes.split(",")[0].split("[")[0])
    os.environ.setdefault("MASTER_PORT", str(20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000))


def init_distributed(device: str = "auto", timeout_s: int = 1800) -> tuple[DistInfo, torch.device]:
    """Initialise the default process group when launched with several processes.

    ``device``: ``auto`` (``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``), ``cpu`` or
    ``cuda``. Returns the rank info and the device this process should use.
    """
    _slurm_env()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else str(device).startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
        log.info("DDP: rank %d/%d (local %d), backend %s, device %s", rank, world, local, backend, dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local), dev


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any rank (stop signals, non-finite losses),
    so all ranks leave the loop at the same step and no collective hangs."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """Average of a scalar tensor over ranks (for logging only)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = value.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / dist.get_world_size()


def broadcast_object(obj: object, src: int = 0) -> object:
    """Rank ``src``'s ``obj`` on every rank (e.g. the vocabulary, the wandb run id)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
