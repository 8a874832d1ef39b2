"""Data-parallel training of the course's torch recommenders: torchrun starts the processes, DistributedDataParallel
keeps their weights equal.

    torchrun --standalone --nproc-per-node=2 -m course_utils.distributed train --model sasrec --dataset 100k \\
        --epochs 24 --out sasrec.pt --checkpoint sasrec.ckpt          # kill it, run it again: it resumes
    python -m course_utils.distributed train --model sasrec ...        # the same, one process

What happens in each of the N processes (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT):
- every process loads the data, builds the same windows and the same model from the same seed (the course's seeding
  semantics, unchanged: ``random_state`` gives the same run whatever N is, up to floating-point order);
- each epoch's shuffled order is drawn as in one process and sent from rank 0, padded to a multiple of N by
  repeating its first rows (as torch's DistributedSampler pads); every batch of ``batch_size`` rows is split into N
  equal shares (``batch_size`` must be a multiple of N), one per process: the *global* batch is what one process
  would train on, so the learning rate needs no change;
- DistributedDataParallel averages the gradients over the processes after every backward pass (gloo on CPUs, NCCL
  on GPUs, one process per GPU): every process then takes the same optimizer step, and the weights stay equal;
- rank 0 alone computes the validation metrics after every epoch and sends them to the others (so early stopping
  decides the same everywhere), and writes the checkpoint: the course's ``save`` format (``Recommender().load(path)``
  reads it) plus what resuming needs (optimizer, scheduler, the random generators' states, the history);
- ``--resume`` (the default when the checkpoint exists) restores all of that and goes on from the next epoch; a
  resumed run on one process ends with the same weights as an uninterrupted one.

Use it in your own script the same way: ``with DataParallel(checkpoint="run.ckpt"): model.fit(train, val_data=val)``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

_RUN = None  # the DataParallel run this process is in (set by ``with DataParallel(...)``)


def current_run():
    """The active DataParallel run, or None (an ordinary single-process fit)."""
    return _RUN


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent (the torchrun agent) dies."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class _Step:
    """An nn.Module whose forward is the recommender's loss: DistributedDataParallel hooks the gradient averaging onto
    a module's forward, and the recommenders compute their loss with methods other than forward (encode, item_scores)."""

    def __new__(cls, module, loss):
        from torch import nn

        class Step(nn.Module):
            def __init__(self):
                super().__init__()
                self.module = module  # registered: DDP sees (and averages) exactly the module's parameters

            def forward(self, *batch):
                return loss(batch)

        return Step()


class DataParallel:
    """A data-parallel training run: ``with DataParallel(checkpoint=...): model.fit(...)``.

    With torchrun's environment (WORLD_SIZE > 1) it joins the process group; without it, it is a single process that
    still checkpoints and resumes. checkpoint: a path written by rank 0 after every epoch (atomically); resume:
    continue from it when it exists. device: where the model trains ("cpu", "cuda"); it decides the backend
    (NCCL for CUDA tensors, gloo for CPU tensors) unless ``backend`` names one.
    """

    def __init__(self, checkpoint=None, resume: bool = True, backend: str | None = None, device: str = "cpu",
                 timeout_s: int = 1800):
        self.rank = int(os.environ.get("RANK", 0))
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if backend is not None and backend not in ("gloo", "nccl"):
            raise ValueError(f"The 'backend' parameter of DataParallel must be 'gloo', 'nccl' or None. Got {backend!r}.")
        self.backend = backend or ("nccl" if str(device).startswith("cuda") else "gloo")
        self.timeout_s = timeout_s
        self.validation_seconds: list[float] = []  # per epoch: the time validate() took (rank 0's, shared)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.resume = bool(resume)
        self.phase = 0  # how many trainings this run has started (NCF's pre-training has three)
        self._resume_state = None
        self._started = False

    # ------------------------------------------------------------------ the process group
    def __enter__(self):
        global _RUN
        import torch
        import torch.distributed as dist

        if _RUN is not None:
            raise RuntimeError("A DataParallel run is already active in this process.")
        if self.world_size > 1 and not dist.is_initialized():
            import datetime

            backend = self.backend
            if backend == "nccl":
                torch.cuda.set_device(self.local_rank)  # one GPU per process: "cuda" now means this process's GPU
            _die_with_parent()  # a killed torchrun takes its workers with it (none left waiting in a collective)
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=self.timeout_s))
            self._started = True
        if self.resume and self.checkpoint is not None and self.checkpoint.exists():
            self._resume_state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)["training"]
        _RUN = self
        return self

    def __exit__(self, *exc):
        global _RUN
        import torch.distributed as dist

        _RUN = None
        if self._started:
            if exc[0] is None and self.world_size > 1:
                dist.barrier()  # no process tears gloo down while another still talks to it (else an abort on exit)
            dist.destroy_process_group()
            self._started = False
        return False

    @property
    def resumed_from(self):
        """(phase, epoch) of the checkpoint this run resumed from, or None."""
        s = self._resume_state
        return None if s is None else (int(s["phase"]), int(s["epoch"]))

    def barrier(self):
        import torch.distributed as dist

        if self.world_size > 1:
            dist.barrier()

    # ------------------------------------------------------------------ hooks the recommenders call
    def shared_order(self, order):
        """Rank 0's shuffled order of the epoch, padded to a multiple of the number of processes."""
        import torch
        import torch.distributed as dist

        pad = (-len(order)) % self.world_size
        if pad:
            order = torch.cat([order, order[:pad]])
        dist.broadcast(order, src=0)
        return order

    def wrap(self, recommender, module, loss, validate):
        """The training step through DistributedDataParallel, and validation computed on rank 0 and shared."""
        import torch.distributed as dist

        self.phase += 1
        self._recommender = recommender
        if self.world_size > 1 and recommender.batch_size % self.world_size:
            raise ValueError(f"The 'batch_size' parameter of {type(recommender).__name__} must be a multiple of the "
                             f"number of processes ({self.world_size}) so that each takes an equal share of every "
                             f"batch. Got {recommender.batch_size}.")
        step = loss
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            device = next(module.parameters()).device
            ddp = DistributedDataParallel(_Step(module, loss), device_ids=[device.index] if device.type == "cuda" else None,
                                          static_graph=True)  # static: the same graph every step (and unused weights)

            def step(batch):
                return ddp(*batch)

        if validate is None:
            return step, validate

        def shared_validate():  # rank 0 validates (timed, so that training speed can be told apart), others wait
            start = time.perf_counter()
            box = [validate() if self.rank == 0 else None]
            if self.world_size > 1:
                dist.broadcast_object_list(box, src=0)
            self.validation_seconds.append(time.perf_counter() - start)
            return box[0]

        return step, shared_validate

    def mean(self, value: float) -> float:
        """The mean of a number over the processes (the epoch's training loss)."""
        import torch
        import torch.distributed as dist

        if self.world_size == 1:
            return value
        device = "cuda" if self.backend == "nccl" else "cpu"
        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def begin(self, module, optimizer, scheduler, history):
        """Before the first epoch of a training: restore the checkpoint's state when resuming this phase.
        Returns (first epoch, history)."""
        s = self._resume_state
        if s is None or int(s["phase"]) != self.phase:
            return 1, history
        import torch

        from .training import History

        module.load_state_dict(s["state_dict"])
        optimizer.load_state_dict(s["optimizer"])
        if scheduler is not None and s.get("scheduler") is not None:
            scheduler.load_state_dict(s["scheduler"])
        rec = self._recommender
        torch.set_rng_state(s["rng_torch"])
        if torch.cuda.is_available() and "rng_cuda" in s:
            torch.cuda.set_rng_state(s["rng_cuda"])
        rec._generator.set_state(s["rng_generator"].to(rec._generator.get_state().device))
        rec._rng.bit_generator.state = json.loads(s["rng_numpy"])
        history = History()
        for record in json.loads(s["history"]):
            history.append(record)
        return int(s["epoch"]) + 1, history

    def end_epoch(self, epoch, history, optimizer, scheduler):
        """After every epoch: rank 0 writes the checkpoint (not while replaying phases before the resumed one)."""
        if self.checkpoint is None:
            return
        if self.resumed_from is not None and (self.phase, epoch) < self.resumed_from:
            return
        if self.rank == 0:
            import torch

            rec = self._recommender
            state = rec._checkpoint()
            state["training"] = {
                "phase": self.phase, "epoch": epoch, "world_size": self.world_size,
                "state_dict": {k: v.detach().cpu() for k, v in rec.module_.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "history": json.dumps(history.records),
                "rng_torch": torch.get_rng_state(),
                "rng_generator": rec._generator.get_state().cpu(),
                "rng_numpy": json.dumps(rec._rng.bit_generator.state),
            }
            if torch.cuda.is_available():
                state["training"]["rng_cuda"] = torch.cuda.get_rng_state()
            tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
            torch.save(state, tmp)
            os.replace(tmp, self.checkpoint)  # a kill while writing leaves the previous checkpoint whole
        self.barrier()


# ---------------------------------------------------------------------------- the train command

MODELS = ("sasrec", "lstm", "lstm-attention", "bert4rec", "gmf", "mlp", "neumf")


def build_model(name: str, epochs: int, seed: int, device: str, batch_size: int | None = None,
                learning_rate: float | None = None, verbose: bool = True):
    """The course's recommender for ``name`` with its course defaults (overridden by the given values)."""
    from . import (BERT4RecRecommender, LSTMAttentionRecommender, LSTMRecommender, NCFRecommender,
                   SASRecRecommender)

    kwargs = {"epochs": epochs, "random_state": seed, "device": device, "verbose": verbose}
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    if learning_rate is not None:
        kwargs["learning_rate"] = learning_rate
    if name in ("gmf", "mlp", "neumf"):
        return NCFRecommender(model=name, **kwargs)
    return {"sasrec": SASRecRecommender, "lstm": LSTMRecommender, "lstm-attention": LSTMAttentionRecommender,
            "bert4rec": BERT4RecRecommender}[name](**kwargs)


def load_split(model: str, dataset: str, seed: int):
    """(train, val, test) DataFrames under the model's chapter protocol; val is carved out of the training data.

    SASRec: chapter 4's leave-one-out; the chapter 5 models: chapter 5's global temporal split (10% test, 10% val);
    NCF: a random 80/20 split, then 12.5% of the training part for validation.
    """
    from .data import InteractionDataset, load_movielens, make_synthetic

    if dataset == "synthetic":
        ratings = make_synthetic(seed=seed)
    elif dataset.startswith("synthetic-"):
        ratings = make_synthetic(like=dataset.removeprefix("synthetic-"), seed=seed)
    else:
        ratings = load_movielens(dataset)
    data = InteractionDataset(ratings)
    if model == "sasrec":
        train, test = data.split(strategy="leave_one_out")
        fit_part, val = InteractionDataset(train.data, implicit=True).split(strategy="leave_one_out")
    elif model in ("lstm", "lstm-attention", "bert4rec"):
        fit_part, val, test = data.split(strategy="global_temporal", test_size=0.1, val_size=0.1)
    else:
        train, test = data.split(test_size=0.2, strategy="random", seed=seed)
        fit_part, val = InteractionDataset(train.data).split(test_size=0.125, strategy="random", seed=seed)
    return fit_part.data, val.data, test.data


def test_metrics(model_name: str, model, fit_part, val, test) -> dict:
    """The final model on the test split, once: full ranking at k=10 (the chapter 5 models: the next-item protocol,
    each test event predicted from the user's earlier events)."""
    import pandas as pd

    from .evaluation import Evaluator, evaluate_next_item

    if model_name in ("lstm", "lstm-attention", "bert4rec"):
        model.set_histories(pd.concat([fit_part, val]))
        return dict(evaluate_next_item(model, pd.concat([fit_part, val]), test, k=10))
    seen = pd.concat([fit_part, val])
    return dict(Evaluator(metrics=["ndcg", "hit_rate"], k_values=[10]).evaluate(model, test, train_data=seen).metrics())


def train_command(args) -> int:
    import torch

    from .training import resolve_device

    device = "cpu" if args.device == "cpu" else str(resolve_device(args.device))
    with DataParallel(checkpoint=args.checkpoint, resume=not args.no_resume, device=device) as run:
        if run.rank == 0 and run.resumed_from:
            print(f"resuming from {args.checkpoint}: phase {run.resumed_from[0]}, epoch {run.resumed_from[1]} done",
                  flush=True)
        if args.threads:
            torch.set_num_threads(args.threads)
        t = time.perf_counter()
        fit_part, val, test = load_split(args.model, args.dataset, args.seed)
        load_seconds = time.perf_counter() - t
        model = build_model(args.model, args.epochs, args.seed, device, args.batch_size, args.learning_rate,
                            verbose=run.rank == 0 and sys.stderr.isatty())
        start = time.perf_counter()
        model.fit(fit_part, val_data=val)
        seconds = time.perf_counter() - start
        if run.rank == 0:
            h = model.history_.to_frame()
            epochs_run = len(h) - (run.resumed_from[1] if run.resumed_from else 0)
            windows = getattr(model, "n_windows_", None)
            # this process's epochs: training seconds = the epoch's seconds minus its validation's
            validation = run.validation_seconds[-epochs_run:] if epochs_run else []
            training = [t - v for t, v in zip(h["seconds"].iloc[len(h) - epochs_run:], validation, strict=True)]
            print(h.round(4).to_string(), flush=True)
            line = (f"{args.model} on {args.dataset}: {run.world_size} process(es) x {torch.get_num_threads()} "
                    f"thread(s), {run.backend}, {epochs_run} epochs in {seconds:.1f} s "
                    f"(training {sum(training):.1f} s, validation {sum(validation):.1f} s)")
            if windows and training:
                line += f", {windows * len(training) / sum(training):,.0f} training sequences/s"
            print(line, flush=True)
            if args.out:
                model.save(args.out)
                print(f"saved: {args.out} ({type(model).__name__}.load reads it on one process)", flush=True)
            metrics, test_seconds = None, None
            if not args.no_test:
                t = time.perf_counter()
                metrics = test_metrics(args.model, model, fit_part, val, test)
                test_seconds = time.perf_counter() - t
                print("test (once, the final model): " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                                   if isinstance(v, float)), flush=True)
            if args.json:
                import resource

                Path(args.json).write_text(json.dumps({
                    "model": args.model, "dataset": args.dataset, "world_size": run.world_size,
                    "threads": torch.get_num_threads(), "epochs": len(h), "epochs_run": epochs_run, "seconds": seconds,
                    "rows": len(fit_part) + len(val) + len(test), "train_rows": len(fit_part),
                    "users": int(fit_part["user_id"].nunique()), "items": int(fit_part["item_id"].nunique()),
                    "windows": windows, "history": h.reset_index().to_dict("records"), "test": metrics,
                    "test_seconds": test_seconds, "load_seconds": load_seconds, "train_seconds": training,
                    "validation_seconds": validation,
                    # the peak resident memory of this process (rank 0), Linux reports kilobytes
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, default=float))
        run.barrier()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a course model on one or many processes (torchrun)")
    t.add_argument("--model", required=True, choices=MODELS)
    t.add_argument("--dataset", default="100k",
                   help="100k, 1m, 10m, 20m, 32m (MovieLens), synthetic (300 users) or synthetic-1m, synthetic-10m")
    t.add_argument("--epochs", type=int, default=None, help="default: the model's course default")
    t.add_argument("--batch-size", type=int, default=None, help="the global batch (a multiple of the processes)")
    t.add_argument("--learning-rate", type=float, default=None)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (one GPU per process under torchrun)")
    t.add_argument("--threads", type=int, default=None, help="torch threads per process (torchrun sets 1 for N > 1)")
    t.add_argument("--out", default=None, help="save the final model here (the course's save format)")
    t.add_argument("--checkpoint", default=None, help="write a checkpoint after every epoch; resume from it")
    t.add_argument("--no-resume", action="store_true", help="start over even when the checkpoint exists")
    t.add_argument("--no-test", action="store_true", help="skip the final test evaluation")
    t.add_argument("--json", default=None, help="write the run's numbers (history, seconds, test) to this file")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = type(build_model(args.model, 1, args.seed, "cpu"))().get_params()["epochs"]  # the course default
    return train_command(args)


if __name__ == "__main__":  # run as a script, this file is a second module: use the package's (one _RUN)
    from course_utils.distributed import main as package_main

    sys.exit(package_main())

