"""Appendix, scaling up (course_utils/checks/ch7.py)."""
import math

import numpy as np


def _shard(rows, rank, world_size):  # every world_size-th row from the rank: what the course's trainer does
    return rows[rank::world_size]


def _shard_blocks(rows, rank, world_size):  # contiguous blocks: also right
    k = len(rows) // world_size
    return rows[rank * k:(rank + 1) * k]


def _ddp_step(replicas, batches, loss_fn, lr, reduce="mean", only_first=False, zero=True, loss_average=False,
              whole_batch=False):
    import torch

    for r in replicas:
        if zero:
            r.zero_grad(set_to_none=True)
    if whole_batch:  # no all-reduce needed: every replica computes on the whole batch (N times the work)
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        for r in replicas:
            loss_fn(r, x, y).backward()
        with torch.no_grad():
            for r in replicas:
                for p in r.parameters():
                    p.sub_(lr * p.grad)
        return float(sum(loss_fn(r, bx, by).item() for r, (bx, by) in zip(replicas, batches, strict=True)) / len(batches))
    losses = [loss_fn(r, x, y) for r, (x, y) in zip(replicas, batches, strict=True)]
    if loss_average:  # averages the losses and backpropagates once: each replica gets its own gradient / N
        torch.stack(losses).mean().backward()
    else:
        for loss in losses:
            loss.backward()
        for params in zip(*(r.parameters() for r in replicas), strict=True):
            grads = torch.stack([p.grad for p in params])
            g = grads.mean(0) if reduce == "mean" else grads.sum(0)
            for p in params:
                p.grad = g.clone()
    with torch.no_grad():
        for r in replicas[:1] if only_first else replicas:
            for p in r.parameters():
                p.sub_(lr * p.grad)
    return float(torch.stack([loss.detach() for loss in losses]).mean())


def _scaled_lr(base_lr, base_batch, batch, step, warmup_steps, rule="linear", warm_from=None, off_by_one=False):
    k = batch / base_batch
    target = base_lr * (k if rule == "linear" else math.sqrt(k) if rule == "sqrt" else 1 / k)
    start = base_lr if warm_from is None else warm_from
    end = warmup_steps - 1 if off_by_one else warmup_steps
    if step >= end or end <= 0:
        return target
    return start + (target - start) * step / end


REFERENCE = {
    "ch7.shard": _shard,
    "ch7.ddp-step": _ddp_step,
    "ch7.scaled-lr": _scaled_lr,
}
WRONG = {
    "ch7.shard": [lambda rows, rank, world_size: rows[rank + 1::world_size],  # ranks counted from 1
                  lambda rows, rank, world_size: rows.reshape(world_size, -1)[rank][:-1],  # drops a row
                  lambda rows, rank, world_size: rows[:len(rows) // world_size],  # every process the same rows
                  lambda rows, rank, world_size: rows[rank:rank + len(rows) // world_size],  # overlapping windows
                  lambda rows, rank, world_size: np.random.default_rng().permutation(rows)[:len(rows) // world_size],
                  lambda rows, rank, world_size: rows],  # the whole batch everywhere
    "ch7.ddp-step": [lambda *a: _ddp_step(*a, reduce="sum"),  # summed: N times too large a step
                     lambda *a: _ddp_step(*a, only_first=True),  # the other replicas never move
                     lambda *a: _ddp_step(*a, zero=False),  # yesterday's gradients added in
                     lambda *a: _ddp_step(*a, loss_average=True),  # no all-reduce: each keeps grad / N
                     lambda *a: _ddp_step(*a, whole_batch=True)],  # every replica trains on the whole batch
    "ch7.scaled-lr": [lambda *a: _scaled_lr(*a, rule="sqrt"),  # square-root scaling (another rule, for Adam at times)
                      lambda *a: _scaled_lr(*a, rule="inverse"),  # the ratio upside down
                      lambda *a: _scaled_lr(*a[:4], 0),  # no warm-up
                      lambda *a: _scaled_lr(*a, warm_from=0.0),  # warms up from 0
                      lambda *a: _scaled_lr(*a, off_by_one=True)],  # reaches the target one step early
}
