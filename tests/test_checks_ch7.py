"""Appendix (chapter 7)'s checkers: their references are the course trainer's sharding, real
DistributedDataParallel (2 gloo processes) and torch's own warm-up scheduler."""
import copy
import os
import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from check_corpus.ch7 import _ddp_step, _scaled_lr, _shard
from course_utils.checks.ch7 import _mse, _reference_lr


def test_the_shard_reference_is_what_the_course_trainer_gives_each_process():
    rows = torch.randperm(24)
    world = 3
    trainer = [rows[r::world] for r in range(world)]  # TorchRecommender._batches: order[start:start + B][rank::world]
    assert all(torch.equal(torch.as_tensor(_shard(rows, r, world)), trainer[r]) for r in range(world))


def _ddp_worker(rank, world, port, base, x, y, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = copy.deepcopy(base)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    n = len(x) // world
    loss = torch.nn.functional.mse_loss(ddp(x[rank * n:(rank + 1) * n]).squeeze(-1), y[rank * n:(rank + 1) * n])
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(0.1 * p.grad)
    torch.save({"state": model.state_dict(), "grads": [p.grad.clone() for p in model.parameters()]}, f"{out}/{rank}.pt")
    dist.barrier()  # neither process tears gloo down while the other still talks to it (an abort, seen once on 3.13)
    dist.destroy_process_group()


def test_the_ddp_step_reference_equals_distributed_data_parallel(tmp_path):
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, base, x, y, str(tmp_path)), nprocs=2, join=True)
    replicas = [copy.deepcopy(base) for _ in range(2)]
    _ddp_step(replicas, [(x[:4], y[:4]), (x[4:], y[4:])], _mse, 0.1)
    for rank in range(2):
        real = torch.load(tmp_path / f"{rank}.pt", weights_only=True)
        mine = replicas[rank]
        for (k, v), p in zip(real["state"].items(), mine.parameters(), strict=True):
            torch.testing.assert_close(p.detach(), v, rtol=1e-12, atol=1e-12, msg=k)
        for g, p in zip(real["grads"], mine.parameters(), strict=True):
            torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-12)


def test_the_scaled_lr_reference_is_torchs_linear_warmup_at_the_scaled_rate():
    base_lr, base_batch, batch, warmup = 0.1, 256, 2048, 10
    k = batch / base_batch
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=k * base_lr)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / k, end_factor=1.0, total_iters=warmup)
    for step in range(25):
        lr = optimizer.param_groups[0]["lr"]
        assert np.isclose(lr, _reference_lr(base_lr, base_batch, batch, step, warmup))
        assert np.isclose(lr, _scaled_lr(base_lr, base_batch, batch, step, warmup))
        optimizer.step()
        scheduler.step()
