"""The one PyTorch training loop of the course: epochs, a progress bar, a history, callbacks, early stopping.

It knows models only as ``nn.Module``: the caller gives a function that yields batches and a function that turns a
batch into a loss. Every torch recommender of the course trains through ``fit_loop``.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable

import pandas as pd


def resolve_device(device="auto"):
    """"auto" -> CUDA when available, else CPU; "cpu"/"cuda"/"cuda:1" as asked (a clear error when CUDA is absent)."""
    import torch

    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ValueError(f"The 'device' parameter must be 'auto', 'cpu' or 'cuda'. Got {device!r} instead.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"The 'device' parameter is {device!r} but this PyTorch sees no CUDA GPU "
                         f"(torch {torch.__version__}). Use device='cpu' or 'auto', or install a CUDA build (README).")
    return torch.device(device)


class History:
    """What happened in training: one record per epoch (epoch, train_loss, seconds, validation metrics)."""

    def __init__(self):
        self.records: list[dict] = []

    def append(self, record: dict) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records).set_index("epoch") if self.records else pd.DataFrame()

    @property
    def train_loss(self) -> list[float]:
        return [r["train_loss"] for r in self.records]

    def __repr__(self) -> str:
        if not self.records:
            return "History(no epochs)"
        last = self.records[-1]
        extras = ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k not in ("epoch", "train_loss", "seconds"))
        return f"History({len(self)} epochs, last train_loss={last['train_loss']:.4f}{', ' + extras if extras else ''})"


class EarlyStopping:
    """Stop when a validation metric has not improved for ``patience`` epochs; restore the best weights.

    Pass it in ``callbacks``: it has the callback signature ``(epoch, train_loss, val_metrics)``.
    """

    def __init__(self, monitor: str = "ndcg@10", patience: int = 5, mode: str = "max", min_delta: float = 0.0,
                 restore_best_weights: bool = True):
        if mode not in ("max", "min"):
            raise ValueError(f"The 'mode' parameter of EarlyStopping must be 'max' or 'min'. Got {mode!r} instead.")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"The 'patience' parameter of EarlyStopping must be an int >= 1. Got {patience!r} instead.")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.restore_best_weights = restore_best_weights
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.stop_training = False
        self._module = None
        self._best_state = None

    def set_module(self, module) -> None:
        self._module, self._best_state, self.best_value, self.best_epoch, self.stop_training = module, None, None, None, False

    def __call__(self, epoch: int, train_loss: float, val_metrics: dict | None) -> None:
        if not val_metrics or self.monitor not in val_metrics:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the validation metrics are "
                             f"{sorted(val_metrics or {})}: pass val_data to fit and monitor one of them.")
        value = float(val_metrics[self.monitor])
        better = self.best_value is None or (value > self.best_value + self.min_delta if self.mode == "max"
                                             else value < self.best_value - self.min_delta)
        if better:
            self.best_value, self.best_epoch = value, epoch
            if self._module is not None and self.restore_best_weights:
                self._best_state = copy.deepcopy(self._module.state_dict())
        elif epoch - self.best_epoch >= self.patience:
            self.stop_training = True

    def restore(self) -> None:
        if self._module is not None and self._best_state is not None:
            self._module.load_state_dict(self._best_state)


def linear_decay(optimizer, total_steps: int):
    """A scheduler that lowers the learning rate linearly from its initial value to 0 over ``total_steps`` steps.

    Late in training a constant rate keeps the weights jumping around a good solution; decaying it lets them settle.
    """
    import torch

    total = max(int(total_steps), 1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))


def fit_loop(module, batches: Callable[[int], Iterable], step: Callable, optimizer, epochs: int,
             validate: Callable[[], dict] | None = None, callbacks: Iterable[Callable] = (), progress: bool = True,
             desc: str = "training", scheduler=None, parallel=None) -> History:
    """Train ``module`` for ``epochs`` epochs and return the History.

    batches(epoch) yields the epoch's batches; step(batch) returns the batch's mean loss (a scalar tensor);
    validate() returns a dict of validation metrics (computed in eval mode, without gradients) after each epoch.
    Callbacks run after validation as callback(epoch, train_loss, val_metrics); one with ``stop_training`` set ends
    training, and EarlyStopping restores the best weights at the end. scheduler: a torch learning-rate scheduler,
    stepped after every optimizer step (see ``linear_decay``). parallel: the data-parallel run this loop is part of
    (``course_utils.distributed.DataParallel``, set by the torch recommenders under torchrun): it may resume from a
    checkpoint (the first epoch and the history so far), averages the training loss over the processes and writes a
    checkpoint after every epoch.
    """
    import torch
    from tqdm.auto import tqdm

    callbacks = list(callbacks)
    for cb in callbacks:
        if isinstance(cb, EarlyStopping):
            cb.set_module(module)
    history, first = History(), 1
    if parallel is not None:
        first, history = parallel.begin(module, optimizer, scheduler, history)
    bar = tqdm(range(first, epochs + 1), desc=desc, unit="epoch", disable=not progress, leave=True, initial=first - 1,
               total=epochs)
    for epoch in bar:
        start = time.perf_counter()
        module.train()
        total, count = None, 0
        for batch in batches(epoch):
            optimizer.zero_grad(set_to_none=True)
            loss = step(batch)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            # summed on the device: reading loss.item() every step would wait for the GPU at every batch
            total = loss.detach() if total is None else total + loss.detach()
            count += 1
        train_loss = total.item() / count if count else float("nan")
        if parallel is not None:
            train_loss = parallel.mean(train_loss)  # the same value on every process: the same decisions
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"The training loss became {train_loss} at epoch {epoch}: lower the learning "
                                     f"rate or check the inputs.")
        val_metrics = None
        if validate is not None:
            module.eval()
            with torch.no_grad():
                val_metrics = {k: float(v) for k, v in validate().items()}
        record = {"epoch": epoch, "train_loss": train_loss, "seconds": time.perf_counter() - start, **(val_metrics or {})}
        history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k not in ("epoch", "seconds")})
        for cb in callbacks:
            cb(epoch, train_loss, val_metrics)
        if parallel is not None:
            parallel.end_epoch(epoch, history, optimizer, scheduler)
        if any(getattr(cb, "stop_training", False) for cb in callbacks):
            break
    bar.close()
    for cb in callbacks:
        if isinstance(cb, EarlyStopping) and cb.restore_best_weights:
            cb.restore()
    module.eval()
    return history
