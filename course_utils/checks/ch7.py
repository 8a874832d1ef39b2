"""Appendix (chapter 7), scaling up: a process's share of a global batch, one data-parallel SGD step written by hand
(gradients averaged over the replicas, checked against one model trained on the whole batch: same weights, same
gradients), and the linear learning-rate scaling rule with gradual warm-up (Goyal et al. 2017).
"""
import math

import numpy as np

from .harness import as_array, as_number, function_exercise


@function_exercise(
    "ch7.shard", "A process's share of a global batch", 1, takes=["rows", "rank", "world_size"],
    hint="data parallelism splits every batch among the processes: each row goes to exactly one process, each "
         "process gets the same number of rows, and every process must arrive at its share on its own, from its rank "
         "alone, with no randomness of its own (the shares of all processes must fit together).",
    nudge="the ranks count from 0 to world_size - 1; either every world_size-th row starting at your rank, or one "
          "contiguous block of len(rows) // world_size rows chosen by the rank.")
def shard_run(fn):
    """``shard(rows, rank, world_size)``: this process's rows of a batch whose length is a multiple of world_size."""
    rng = np.random.default_rng(7)
    for n, world in [(8, 2), (12, 3), (4, 4), (6, 1), (64, 8), (30, 5)]:
        rows = rng.permutation(1000)[:n]
        if n == 64:  # the batch as a torch tensor too: a process's share may be taken the torch way
            import torch

            rows = torch.from_numpy(rows)
        shares = []
        for rank in range(world):
            got = as_array(fn(rows.clone() if hasattr(rows, "clone") else rows.copy(), rank, world))
            if got is None or got.ndim != 1:
                return False, f"shard must return a 1-d array (or tensor) of rows; for rank {rank} yours returns {got!r}."
            again = as_array(fn(rows.clone() if hasattr(rows, "clone") else rows.copy(), rank, world))
            if again.shape != got.shape or not np.array_equal(again, got):
                return False, "called twice with the same rank, your shard returns different rows: the processes could not agree."
            if len(got) != n // world:
                return False, (f"with {n} rows and {world} processes every process should get {n // world} rows; "
                               f"rank {rank} gets {len(got)}.")
            shares.append(got)
        together, values = np.concatenate(shares), np.asarray(rows)
        if not np.array_equal(np.sort(together), np.sort(values)):
            missing = sorted(set(values.tolist()) - set(together.astype(int).tolist()))
            return False, (f"with {n} rows and {world} processes the shares together are not the batch: "
                           f"{'rows missing, e.g. ' + str(missing[:3]) if missing else 'some rows go to two processes'}.")
    return True, "correct: every row goes to exactly one process, and every process gets an equal share."


def _reference_step(model, x, y, lr):
    """One SGD step of ONE model on the whole batch (mean loss): the gradients and the weights data parallelism
    must reproduce."""
    import torch

    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(lr * p.grad)
    return float(loss.detach())


def _mse(module, x, y):
    import torch

    return torch.nn.functional.mse_loss(module(x).squeeze(-1), y)


@function_exercise(
    "ch7.ddp-step", "One data-parallel training step, by hand", 2, takes=["replicas", "batches", "loss_fn", "lr"],
    hint="each replica computes the gradient of the mean loss on its own equal share of the batch, and only on it; "
         "the all-reduce makes every replica's gradient the AVERAGE over the replicas (the gradient of the whole "
         "batch's mean loss), and then every replica takes the same step, so that their weights stay identical; "
         "gradients left over from an earlier step must not leak into this one.",
    nudge="think in three phases: each replica forgets its old gradients and backpropagates its own share's loss; "
          "then, parameter by parameter, the replicas' gradients are averaged and every replica receives the "
          "average; then every replica moves against its gradient by the learning rate, outside of autograd's "
          "recording. The losses to return are the ones computed before the step.")
def ddp_step_run(fn):
    """``data_parallel_step(replicas, batches, loss_fn, lr) -> mean loss``: after it, every replica equals one model
    that took one SGD step on the concatenated batch, and holds that model's gradient."""
    import copy

    import torch

    for world, n, dim, seed in [(2, 8, 3, 0), (3, 6, 4, 1), (4, 4, 2, 2), (1, 5, 3, 3)]:
        g = torch.Generator().manual_seed(seed)
        base = torch.nn.Sequential(torch.nn.Linear(dim, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
        for p in base.parameters():
            p.data = torch.randn(p.shape, generator=g, dtype=torch.float64)
        x = torch.randn(world * n, dim, generator=g, dtype=torch.float64)
        y = torch.randn(world * n, generator=g, dtype=torch.float64)
        reference = copy.deepcopy(base)
        replicas = [copy.deepcopy(base) for _ in range(world)]
        for r in replicas:  # stale gradients from an earlier step, as a training loop leaves them
            for p in r.parameters():
                p.grad = torch.full_like(p, 5.0)
        batches = [(x[i * n:(i + 1) * n], y[i * n:(i + 1) * n]) for i in range(world)]
        with torch.no_grad():
            want_loss = float(np.mean([float(_mse(base, bx, by)) for bx, by in batches]))
        _reference_step(reference, x, y, 0.1)
        calls = []

        def recorded_loss(module, bx, by, calls=calls, replicas=replicas, batches=batches):  # own share only
            calls.append((next((k for k, r in enumerate(replicas) if r is module), None),
                          next((k for k, (sx, _) in enumerate(batches) if sx.shape == bx.shape and torch.equal(sx, bx)),
                               None)))
            return _mse(module, bx, by)

        got_loss = as_number(fn(replicas, batches, recorded_loss, 0.1))
        case = f"{world} replicas of {n} rows each"
        if sorted(c for c in calls if c[0] is not None) != [(k, k) for k in range(world)] or len(calls) != world:
            return False, (f"for {case} each replica should compute the loss once, on its own share (replica k on "
                           f"batches[k]); yours called loss_fn as (replica, share): {calls}, None = neither a replica "
                           f"nor a share.")
        if got_loss is None or not math.isclose(got_loss, want_loss, rel_tol=1e-9, abs_tol=1e-12):
            return False, (f"for {case} return the mean of the replicas' losses computed before the step ({want_loss:.6f}); "
                           f"yours returns {got_loss!r}.")
        ref_params = list(reference.parameters())
        for k, r in enumerate(replicas):
            for j, (p, q) in enumerate(zip(r.parameters(), ref_params, strict=True)):
                if p.grad is None or not torch.allclose(p.grad, q.grad, rtol=1e-9, atol=1e-12):
                    return False, (f"for {case} replica {k}'s gradient of parameter {j} is not the whole batch's "
                                   f"gradient (the average over the replicas)"
                                   + (": it is missing" if p.grad is None else "") + ".")
                if not torch.allclose(p, q, rtol=1e-9, atol=1e-12):
                    return False, (f"for {case} replica {k}'s weights after the step differ from one model's step on "
                                   f"the whole batch (parameter {j}).")
    return True, ("correct: every replica holds the whole batch's gradient and the same weights as one model trained "
                  "on the whole batch: what DistributedDataParallel does after each backward pass.")


def _reference_lr(base_lr, base_batch, batch, step, warmup_steps):
    target = base_lr * batch / base_batch
    if step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * step / warmup_steps


@function_exercise(
    "ch7.scaled-lr", "The learning rate of a larger global batch", 1,
    takes=["base_lr", "base_batch", "batch", "step", "warmup_steps"],
    hint="a batch k times larger averages k times more examples per step and takes k times fewer steps per epoch: "
         "the linear scaling rule multiplies the learning rate by k; because large rates at the very start diverge, "
         "the rate climbs in equal increments from the small-batch rate to the scaled one over the warm-up steps, "
         "then stays there.",
    nudge="k = batch / base_batch; at step 0 the rate is base_lr, at step warmup_steps (and after) it is k * base_lr, "
          "in between it grows linearly with the step.")
def scaled_lr_run(fn):
    """``scaled_learning_rate(base_lr, base_batch, batch, step, warmup_steps)``: Goyal et al.'s rule with warm-up."""
    cases = [(0.1, 256, 8192, s, 100) for s in (0, 1, 50, 99, 100, 101, 5000)]
    cases += [(0.002, 128, 128, 3, 10), (0.002, 128, 512, 0, 0), (0.002, 128, 512, 7, 0), (0.001, 64, 256, 5, 20),
              (0.01, 1024, 256, 2, 4), (0.01, 1024, 256, 9, 4)]
    for args in cases:
        got = as_number(fn(*args))
        want = _reference_lr(*args)
        if got is None or not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
            base_lr, base_batch, batch, step, warmup = args
            return False, (f"base_lr {base_lr} at batch {base_batch}, now batch {batch}, step {step} of a "
                           f"{warmup}-step warm-up: expected {want:.6g}, yours gives {got!r}.")
    return True, "correct: the rate scales with the batch, reached by a linear warm-up."
