"""Distributed training: process set-up under torchrun, DDP or FSDP wrapping, full state for checkpoints."""
from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_optimizer_state_dict)

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def setup() -> tuple[int, int, torch.device]:
    """(rank, world size, device) under torchrun, or (0, 1, the best device) alone."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local)
    return dist.get_rank(), dist.get_world_size(), torch.device("cpu")


def teardown(world: int) -> None:
    """The end of a run: alone, nothing; under torchrun, a barrier, the group destroyed and the process ended at
    once, its output flushed. Left to the interpreter, a DDP reducer freed after its gloo group was destroyed drops
    the group's last reference holding the GIL and joins the group's thread, which waits for the GIL to free a
    collective's tensors: a rank of a two-process test hung so, its work done and written."""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def agreed(values: list[float], device: torch.device) -> list[float]:
    """Each value's largest over the ranks (as given when alone): every rank then reads one clock and makes one
    decision (stop, save, the learning rate), so none waits in a step or a save that its peers never reach."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def parallelize(objective: nn.Module, world: int, device: torch.device, fsdp: bool) -> nn.Module:
    """The module to call for the loss: the objective alone, under DDP, or sharded block by block (FSDP)."""
    if world == 1:
        return objective
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        sam = objective.sam
        for block in [*sam.encoder.blocks, *sam.lm.backbone.layers]:
            fully_shard(block)
        fully_shard(objective)
        return objective
    return nn.parallel.DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)


def full_model_state(objective: nn.Module) -> dict[str, Tensor]:
    """Every parameter, gathered whole on the CPU (a collective call under FSDP: every rank must call it)."""
    return get_model_state_dict(objective, options=FULL)


def full_optimizer_state(objective: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """The optimizer state keyed by parameter name, gathered whole (collective under FSDP)."""
    return get_optimizer_state_dict(objective, opt, options=FULL)


def load_optimizer_state(objective: nn.Module, opt: torch.optim.Optimizer, state: dict, sharded: bool) -> None:
    """Restore a state from full_optimizer_state into `opt` (names mapped back to its parameters)."""
    if sharded:
        set_optimizer_state_dict(objective, opt, optim_state_dict=state,
                                 options=StateDictOptions(full_state_dict=True))
        return
    names = [n for g in state["param_groups"] for n in g["params"]]
    index = {n: i for i, n in enumerate(names)}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]]
    opt.load_state_dict({"state": {index[n]: s for n, s in state["state"].items()}, "param_groups": groups})
