"""Data-parallel scoring: the processes of one ``torchrun`` / ``accelerate launch`` each score a shard, balanced by tokens.

Every process loads the data and the model, takes its share of the distinct units still to score (units
of one prompt stay together, so a shared prefix is still computed once), writes what it scores to its own
score-cache file (so a killed run resumes per shard), and then all processes exchange their scores. Only
the main process writes results and talks to MLflow. ``accelerate`` sets up the process group (gloo on
CPU, NCCL on GPUs); one process is the default and costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the scoring processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that writes results and logs to MLflow."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    def gather(self, value: T) -> list[T]:
        """Every process's ``value``, in rank order, on every process (picklable values)."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def take(self, weights: Sequence[int]) -> list[int]:
        """The indices of ``weights`` this process takes: the same split on every process, balanced by weight."""
        return balanced_shards(weights, self.world_size)[self.rank]

    def device(self, device: str) -> str:
        """The device of this process: its own GPU (by local rank) when the run is on CUDA."""
        if self.distributed and device.startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return device


SINGLE_PROCESS = ProcessGroup()


def _launched() -> bool:
    """Whether a launcher (torchrun, accelerate launch) started this process as one of several (it sets ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current_process_group(device: str = "auto") -> ProcessGroup:
    """The process group this process was launched in, or a single process."""
    if not _launched():
        return SINGLE_PROCESS
    import torch
    from accelerate import PartialState

    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    # cpu=True makes accelerate build a gloo group from torchrun's variables; without it a CPU rank sees one process.
    state = PartialState(cpu=not on_gpu)
    return ProcessGroup(rank=state.process_index, world_size=state.num_processes, local_rank=state.local_process_index)


def balanced_shards(weights: Sequence[int], count: int) -> list[list[int]]:
    """Indices split into ``count`` shards of near-equal total weight (heaviest first onto the lightest shard); deterministic."""
    loads = [0] * count
    shards: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        target = min(range(count), key=lambda shard: (loads[shard], shard))
        shards[target].append(index)
        loads[target] += weights[index]
    return shards


def end_process_group() -> None:
    """Leave the process group cleanly at the end of a distributed run (no-op otherwise)."""
    if not _launched():
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def launch(argv: Sequence[str], num_processes: int, *, on_gpu: bool) -> int:
    """Run ``rm-mlflow <argv>`` as ``num_processes`` data-parallel processes on this machine; their exit status (0: all ended well).

    GPUs: accelerate's launcher (``accelerate launch --multi_gpu``, NCCL). CPU: torchrun's, because accelerate's
    CPU multi-process launch goes through MPI; each process then joins a gloo group through accelerate. Both are
    called in this process, so a failed child is an exit status here, not the launcher's traceback; the children
    print their own one-line errors. On CPU the cores are split between the processes unless OMP_NUM_THREADS is set.
    """
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    script = ["-m", "rm_mlflow.cli", *argv]
    if not on_gpu and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // num_processes))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its failure report repeats what the children said
    try:
        if on_gpu:
            from accelerate.commands.launch import launch_command, launch_command_parser

            options = ["--num_processes", str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
            launch_command(launch_command_parser().parse_args([*options, *(["--multi_gpu"] if num_processes > 1 else []), *script]))
        else:
            from torch.distributed.run import get_args_parser, run

            run(get_args_parser().parse_args(["--standalone", "--nproc_per_node", str(num_processes), *script]))
    except ChildFailedError as error:
        return next((failure.exitcode for failure in error.failures.values() if failure.exitcode), 1)
    return 0


def without_option(argv: Sequence[str], name: str) -> list[str]:
    """``argv`` without ``--name VALUE`` / ``--name=VALUE`` (either spelling, ``_`` or ``-``)."""
    spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
    kept: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item in spellings:
            skip = True
        elif not any(item.startswith(spelling + "=") for spelling in spellings):
            kept.append(item)
    return kept


def launched_rank() -> int | None:
    """This process's rank when a launcher (torchrun, accelerate launch) started it, else None (read from the environment)."""
    return int(os.environ["RANK"]) if _launched() and "RANK" in os.environ else None
