"""The plumbing every PyTorch recommender of the course shares, written once: a model file keeps its nn.Module(s),
its loss and what is special about its data.

    fit(train, val_data, callbacks)              BaseRecommender: ids, the seen-items matrix, hyperparameter checks
      _fit                                       TorchRecommender, in a scope seeded by random_state:
        module_ = _build_module()                    the module slot: the learner's module or the course's own
        _prepare(df)                                 the model's training data (arrays, samplers, graphs)
        fit_loop(batches, _loss, ...)                the one loop (course_utils.training): shuffled batches of
                                                     _epoch_data(epoch), Adam, validation, callbacks, early stopping

Seeding: random_state=42 makes fit repeatable without touching anyone else's random state (torch's global generator
is forked, and the shuffling, sampling and dropout draws come from generators seeded with it); None means not
seeded: fresh randomness at every fit, drawn from the global generators as any unseeded PyTorch code does.

The module slot: each torch recommender takes ``module``, the nn.Module class (or a function returning one) that it
trains; None means the course's own. It is called with keyword arguments only, those of the course's module that its
signature takes (each model file documents its module contract: constructor arguments, methods, shapes), and then
trains, evaluates, saves and loads exactly like the built-in one. ``save`` records the module's name, and ``load`` refuses a checkpoint
written with another module: load it into a recommender given the same class.

SequenceRecommender adds what SASRec and the chapter 5 models share: time-ordered histories, ``score_next``,
``get_attention_weights``, ``set_histories`` and the next-item validation protocol.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._validation import check_dataframe, check_fraction, check_int, check_positive
from .recommender import BaseRecommender, _ids_array

VALIDATION_K = 10  # the k of the validation metrics reported in history_ (ndcg@10, ...)


def module_name(factory) -> str | None:
    """How a module class or factory is named in a checkpoint: 'package.module.QualName' (None: the course's own)."""
    if factory is None:
        return None
    if isinstance(factory, dict):
        return {k: module_name(v) for k, v in factory.items()}
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', type(factory).__name__)}"


class TorchRecommender(BaseRecommender):
    """Base for the PyTorch models: the seeded training scope, the module slot, shuffled batches, Adam, validation
    through the Evaluator, history and callbacks (EarlyStopping), safe checkpoints (torch weights_only + JSON).

    A subclass defines ``__init__`` (hyperparameters, ``module`` among them), ``_default_module`` (the course's
    nn.Module class), ``_module_kwargs()`` (the constructor arguments), ``_prepare(df)`` (its training data, on
    ``self._device``), ``_epoch_data(epoch)`` (tensors of equal length whose rows are shuffled and batched) and
    ``_loss(batch)``. It may override ``_optimizer``, ``_scheduler`` and the scoring methods. Attributes whose name
    starts with "_" that ``_prepare`` sets live only during fit (they are deleted after it): keep what scoring needs
    in learned attributes, whose names end with "_".
    """

    _default_module = None
    validation_metrics = ("ndcg", "recall", "hit_rate")  # ranking models; rating models report mse and rmse

    # ---------------------------------------------------------------- checks shared by every torch model
    def _validate_params(self):
        f = type(self).__name__
        for name in ("embedding_dim", "batch_size", "epochs"):
            if hasattr(self, name):
                check_int(getattr(self, name), name, f, min_value=1)
        check_positive(self.learning_rate, "learning_rate", f)
        for name in ("weight_decay", "reg_lambda"):
            if hasattr(self, name):
                check_positive(getattr(self, name), name, f, strict=False)
        if getattr(self, "dropout", 0) != 0:
            check_fraction(self.dropout, "dropout", f)
        if not isinstance(self.verbose, bool):
            raise TypeError(f"The 'verbose' parameter of {f} must be a bool. Got {self.verbose!r}.")
        self._check_module_param()
        self._torch_device()

    def _check_module_param(self) -> None:
        check_module_factory(self.module, type(self).__name__)

    def _torch_device(self):
        from .training import resolve_device

        return resolve_device(getattr(self, "device", "auto"))

    # ---------------------------------------------------------------- the module slot
    def _module_kwargs(self) -> dict:
        """The keyword arguments the module is built with (subclasses)."""
        raise NotImplementedError

    def _build_module(self):
        return self._make_module(self.module if self.module is not None else self._default_module, self._module_kwargs())

    def _make_module(self, factory, kwargs: dict, what: str = "module"):
        """factory(**kwargs), given the keywords of the contract that its signature takes: a learner's module may
        leave out the ones it fixes itself (chapter 1's RatingMLP has no hidden= or init=), never require others."""
        from torch import nn

        contract, kwargs = kwargs, _accepted(factory, kwargs)
        try:
            inspect.signature(factory).bind(**kwargs)
        except TypeError as err:
            raise TypeError(f"{type(self).__name__} builds its {what} as {module_name(factory)}"
                            f"({', '.join(f'{k}=...' for k in contract)}), the course's module contract (see its "
                            f"docstring); that call does not fit its constructor: {err}") from err
        except ValueError:  # no signature to read (a builtin): call it and see
            pass
        module = factory(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"The 'module' parameter of {type(self).__name__} must build a torch.nn.Module; "
                            f"{module_name(factory)}(...) returned {type(module).__name__}.")
        return module

    def n_parameters(self) -> int:
        """Number of trained weights of the fitted module."""
        self._check_fitted()
        return sum(p.numel() for p in self.module_.parameters())

    # ---------------------------------------------------------------- training
    @contextlib.contextmanager
    def _seeded(self, device):
        """random_state=int: torch's global generator forked and seeded (module init, dropout), and the generators
        this fit samples and shuffles with seeded too. None: fresh generators, torch's global one as it is."""
        import torch

        seed = None if self.random_state is None else int(self.random_state)  # np.int64 too
        # torch.manual_seed seeds every CUDA device as well: fork them all, so that none is left reseeded
        fork = torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))) if seed is not None \
            else contextlib.nullcontext()
        with fork:
            if seed is not None:
                torch.manual_seed(seed)
            self._rng = np.random.default_rng(seed)  # NumPy samplers
            self._generator = torch.Generator(device=device)  # shuffling and sampling on the device
            if seed is None:
                self._generator.seed()
            else:
                self._generator.manual_seed(seed)
            self._device = device
            try:
                yield
            finally:
                del self._rng, self._generator, self._device

    def _fit(self, df, val_df, callbacks):
        device = self._torch_device()
        validate = self._validator(df, val_df)
        before = set(self.__dict__)
        try:
            with self._seeded(device):
                self.module_ = self._build_module().to(device)
                self._prepare(df)
                self.history_ = self._train(self.module_, validate, callbacks)
        finally:  # what _prepare kept for training (arrays, samplers) lives only as long as fit
            for name in [k for k in self.__dict__ if k.startswith("_") and k not in before]:
                del self.__dict__[name]
            if hasattr(getattr(self, "module_", None), "eval"):
                self.module_.eval()  # also after an interrupted fit: no dropout when scoring
            self._forget_cache()

    def _prepare(self, df: pd.DataFrame) -> None:
        """Build the training data of this fit, and do what must come before training (NCF's pre-training)
        (subclasses); ``self._device``, ``self._rng`` (NumPy) and ``self._generator`` (torch) are this fit's."""

    def _epoch_data(self, epoch: int) -> tuple:
        """Tensors of equal length on the device, one row per training example of this epoch (subclasses)."""
        raise NotImplementedError

    def _loss(self, batch):
        """The mean loss of a batch (a tuple of rows of ``_epoch_data``), a scalar tensor (subclasses)."""
        raise NotImplementedError

    def _batches(self, epoch: int):
        """The epoch's examples, shuffled and cut into batches of batch_size rows."""
        import torch

        from .distributed import current_run

        self._forget_cache()  # the weights change: cached embeddings are stale
        tensors = self._epoch_data(epoch)
        order = torch.randperm(len(tensors[0]), generator=self._generator, device=self._device)
        run = current_run()
        if run is not None and run.world_size > 1:  # data parallel: this process's equal share of every batch
            order = run.shared_order(order)
        rank, world = (run.rank, run.world_size) if run is not None else (0, 1)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size][rank::world]
            yield tuple(t[rows] for t in tensors)

    def _optimizer(self, module):
        """Adam, fused: the whole update in one kernel per step (1.6x faster NCF steps on a CPU, fewer launches on a
        GPU). weight_decay, where a model has it, is Adam's L2 penalty."""
        import torch

        return torch.optim.Adam(module.parameters(), lr=self.learning_rate, weight_decay=getattr(self, "weight_decay", 0.0),
                                fused=True)

    def _scheduler(self, optimizer):
        """A learning-rate scheduler stepped after every optimizer step, or None (subclasses)."""
        return None

    def _train(self, module, validate, callbacks, desc: str | None = None):
        """Train ``module`` (``self.module_`` while it trains) for ``epochs`` epochs; returns the History."""
        from .distributed import current_run
        from .training import fit_loop

        optimizer = self._optimizer(module)
        scheduler = self._scheduler(optimizer)
        step, run = self._loss, current_run()
        if run is not None:  # under torchrun: DistributedDataParallel, rank-0 validation, checkpoints
            step, validate = run.wrap(self, module, step, validate)
        return fit_loop(module, self._batches, step, optimizer, self.epochs, validate, callbacks,
                        progress=self.verbose and (run is None or run.rank == 0), desc=desc or type(self).__name__,
                        scheduler=scheduler, parallel=run)

    def _forget_cache(self) -> None:
        """Drop what was computed from the weights (LightGCN's propagated embeddings)."""

    # ---------------------------------------------------------------- validation
    def _validator(self, df: pd.DataFrame, val_df: pd.DataFrame | None):
        """The per-epoch validation hook of fit_loop: full-ranking metrics at k=10 (ranking models, training items
        removed) or mse and rmse (rating models) on val_data, through the course's Evaluator."""
        if val_df is None:
            return None
        from .evaluation import Evaluator

        if self.task == "rating":
            evaluator, kwargs = Evaluator(metrics=["mse", "rmse"]), {"task": "rating"}
        else:
            evaluator, kwargs = Evaluator(metrics=list(self.validation_metrics), k_values=[VALIDATION_K]), {"train_data": df}

        def validate():
            self._forget_cache()
            return evaluator.evaluate(self, val_df, **kwargs).metrics()

        return validate

    # ---------------------------------------------------------------- scoring helpers
    def _module_device(self):
        return next(self.module_.parameters()).device

    def _tensor(self, array, dtype=None):
        import torch

        return torch.as_tensor(np.asarray(array), dtype=dtype, device=self._module_device())

    # ---------------------------------------------------------------- persistence
    def _meta(self) -> dict:
        return {**super()._meta(), "module": module_name(self.module)}

    def _restore_meta(self, meta: dict, path) -> None:
        saved, mine = meta.get("module"), module_name(self.module)
        if meta.get("class") == type(self).__name__ and saved != mine:  # another class: the base class says so
            raise ValueError(f"{path} was trained with module={saved or 'None (the course module)'}; this "
                             f"{type(self).__name__} has module={mine or 'None (the course module)'}. Load it into a "
                             f"{type(self).__name__} given the same module class.")
        super()._restore_meta(meta, path)

    def _extra_state(self) -> dict:
        """Tensors besides the module's weights that loading needs (subclasses)."""
        return {}

    def _set_extra_state(self, extra: dict) -> None:
        pass

    def save(self, path):
        """Save config (JSON), ids and weights with torch.save; ``load`` reads it back with weights_only=True."""
        import torch

        torch.save(self._checkpoint(), Path(path))
        return Path(path)

    def _checkpoint(self) -> dict:
        """What ``save`` writes: tensors, lists and JSON text only (``torch.load(weights_only=True)`` reads it)."""
        import torch

        self._check_fitted()
        return {
            "meta": json.dumps(self._meta()),
            "user_ids": _ids_array(self.user_index_).tolist(),
            "item_ids": _ids_array(self.item_index_).tolist(),
            "seen_indptr": torch.from_numpy(self.seen_.indptr.astype(np.int64)),
            "seen_indices": torch.from_numpy(self.seen_.indices.astype(np.int64)),
            "state_dict": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
            "extra": {k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in self._extra_state().items()},
        }

    def load(self, path):
        """Load a checkpoint written by ``save`` (weights_only=True: no code runs while loading) into this object,
        keeping its device and its module class; returns self."""
        import torch

        path = Path(path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(ckpt["meta"])
        except FileNotFoundError:
            raise
        except Exception as err:  # torch raises several types for a file that is not a safe checkpoint
            raise ValueError(f"{path} is not a model saved by {type(self).__name__}.save ({type(err).__name__}: {err}).") from err
        self._restore_meta(meta, path)
        self._restore_index(ckpt["user_ids"], ckpt["item_ids"], ckpt["seen_indptr"].numpy(), ckpt["seen_indices"].numpy())
        self._set_extra_state(ckpt.get("extra", {}))
        self.module_ = self._build_module()
        self.module_.load_state_dict(ckpt["state_dict"])
        self.module_.to(self._torch_device()).eval()
        self._after_load()
        return self

    def _after_load(self) -> None:
        """Rebuild what is not a weight after load (LightGCN's graph)."""


def check_module_factory(factory, owner: str) -> None:
    """The 'module' parameter: None (the course's module) or an nn.Module class or a function returning a module."""
    from torch import nn

    if isinstance(factory, nn.Module):
        raise TypeError(f"The 'module' parameter of {owner} must be an nn.Module class (or a function that builds one), "
                        f"not a module instance: pass {type(factory).__name__}, not {type(factory).__name__}(...). The "
                        f"recommender builds it with the data's sizes at fit.")
    if factory is not None and not callable(factory):
        raise TypeError(f"The 'module' parameter of {owner} must be None (the course's module) or an nn.Module class "
                        f"or a function that returns one. Got {type(factory).__name__}: {factory!r}.")


def _accepted(factory, kwargs: dict) -> dict:
    """The keywords of ``kwargs`` that ``factory`` takes (all of them when it takes **kwargs or has no signature)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class SequenceRecommender(TorchRecommender):
    """What the next-item models share (SASRec, LSTM, LSTM + MHA, BERT4Rec).

    The module contract: ``encode(seqs) -> (B, T, D)`` hidden states for (B, T) item codes (0 = padding, most recent
    item last; code c is item ``item_index_[c - 1]``), ``item_scores(h) -> (..., n_items)`` for (..., D); optional
    keywords of encode: ``last_only=True`` (the last position's state only, (B, 1, D): faster scoring) and
    ``need_weights=True`` (returns ``(h, [weights of each block, (B, heads, T, T)])``).

    fit needs a timestamp column in train and in val_data (the order of events: ties keep the frame's order);
    ``history_items_`` holds every user's last max_seq_length training items (what recommend and score read).
    """

    task = "ranking"
    _val_protocol = "ranking"  # "next_item": each validation event predicted from the user's earlier events

    def _validate_params(self):
        super()._validate_params()
        check_int(self.max_seq_length, "max_seq_length", type(self).__name__, min_value=2)

    def _check_frame(self, part, name, func):
        df = super()._check_frame(part, name, func)
        if func == "fit":
            check_dataframe(df, name, ["timestamp"], f"{type(self).__name__}.fit (a sequential model needs the order of events)")
        return df

    def _sequences(self, df: pd.DataFrame) -> list:
        """Every user's training items (codes), oldest first; sets history_items_ (the last max_seq_length)."""
        from .data.sequences import pad_left, user_sequences

        _, sequences = user_sequences(df, self.item_index_, self.user_index_)
        self.history_items_ = pad_left(sequences, self.max_seq_length)  # (n_users, T)
        return sequences

    def _training_windows(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        if len(inputs) == 0:
            raise ValueError(f"{type(self).__name__}.fit needs at least one user with 2 or more interactions.")
        self.n_windows_ = len(inputs)  # training sequences per epoch
        self._inputs = self._tensor_on_device(inputs)
        self._targets = self._tensor_on_device(targets)

    def _tensor_on_device(self, array):
        import torch

        return torch.from_numpy(np.ascontiguousarray(array)).to(self._device)

    def _epoch_data(self, epoch):
        return self._inputs, self._targets

    def _loss(self, batch):
        """Causal models: the next item at every real position, softmax cross-entropy over the catalogue."""
        from .losses import softmax_cross_entropy

        seq, target = batch
        h = self.module_.encode(seq)  # (B, T, D)
        real = target > 0  # positions with a next item
        return softmax_cross_entropy(self.module_.item_scores(h[real]), target[real])

    def _optimizer(self, module):
        """AdamW (decoupled weight decay), as the chapter 5 seed; fused."""
        import torch

        return torch.optim.AdamW(module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay, fused=True)

    def _validator(self, df, val_df):
        if val_df is None or self._val_protocol == "ranking":
            return super()._validator(df, val_df)
        from .data.sequences import next_item_targets
        from .evaluation import next_item_metrics

        windows, codes, seen, _ = next_item_targets(df, val_df, self.item_index_, self.max_seq_length)  # built once
        if len(windows) == 0:
            raise ValueError("The 'val_data' parameter of fit has no event with an earlier event of a training item to "
                             "predict it from.")
        n = getattr(self, "val_targets", None)
        if n is not None and len(windows) > n:  # a fixed sample, for speed
            keep = np.sort(np.random.default_rng(self.random_state).choice(len(windows), n, replace=False))
            windows, codes, seen = windows[keep], codes[keep], [seen[i] for i in keep]
        return lambda: next_item_metrics(self, windows, codes, seen, k=VALIDATION_K)

    # ---------------------------------------------------------------- scoring
    def _read_windows(self, windows, func: str) -> np.ndarray:
        """(n, T) item codes, left-padded -> (n, <= max_seq_length): a longer history is truncated to its most recent
        max_seq_length items, as the model was trained."""
        windows = np.asarray(windows)
        if windows.ndim != 2 or not np.issubdtype(windows.dtype, np.integer):
            raise ValueError(f"The 'windows' parameter of {func} must be a 2-d array (n, T) of item codes (0 = padding, "
                             f"most recent last). Got shape {windows.shape}, dtype {windows.dtype}.")
        if windows.size and (windows.min() < 0 or windows.max() > len(self.item_index_)):
            raise ValueError(f"The 'windows' parameter of {func} must hold item codes in 0..{len(self.item_index_)} "
                             f"(0 = padding). Got values in {windows.min()}..{windows.max()}.")
        return self._scoring_windows(windows[:, -self.max_seq_length:].astype(np.int64))

    def _scoring_windows(self, windows: np.ndarray) -> np.ndarray:
        """What the encoder reads to predict the item after each window (BERT4Rec appends its [MASK])."""
        return windows

    def _last_hidden(self, windows: np.ndarray, block: int = 1024):
        """(n, D) the encoder's state at the last position of each window."""
        import torch

        encode = self.module_.encode
        last_only = _accepts(encode, "last_only")
        out = []
        self.module_.eval()
        with torch.no_grad():
            for s in range(0, len(windows), block):
                seq = self._tensor(windows[s:s + block], dtype=torch.long)
                h = encode(seq, last_only=True) if last_only else encode(seq)
                out.append(h[:, -1])
        return torch.cat(out)

    def score_next(self, windows) -> np.ndarray:
        """(n, n_items) float32 scores of every item as the next one after each window, an array the caller owns.

        windows: (n, T) item codes, left-padded (0 = padding), most recent last; a window longer than max_seq_length
        is truncated to its most recent max_seq_length items. Column j scores item ``item_index_[j]``. The next-item
        protocol (course_utils.evaluate_next_item) calls it.
        """
        import torch

        self._check_fitted()
        windows = self._read_windows(windows, "score_next")
        if len(windows) == 0:
            return np.zeros((0, len(self.item_index_)), dtype=np.float32)
        h = self._last_hidden(windows)
        with torch.no_grad():
            return np.array(self.module_.item_scores(h).float().cpu().numpy(), dtype=np.float32)

    def _score_users(self, users):
        return self.score_next(self.history_items_[np.asarray(users)])

    def get_attention_weights(self, user=None, items=None):
        """Attention weights for one user's history (``user=``, a user id) or a list of item ids (``items=``, oldest
        first): the most recent max_seq_length items, left-padded as recommend reads them (BERT4Rec: without the
        [MASK] that recommend appends).

        Returns (items, weights): the item ids read (padding left out) and a list with one (n_heads, T, T) array per
        attention block, T = len(items); row t holds how much position t attends to each position (rows sum to 1;
        a causal model puts zeros above the diagonal: no position sees the future).
        """
        import torch

        self._check_fitted()
        if (user is None) == (items is None):
            raise ValueError("get_attention_weights takes exactly one of user= (a user id) or items= (a list of item ids).")
        if not _accepts(self.module_.encode, "need_weights"):
            raise TypeError(f"{type(self).__name__}'s module has no attention weights (its encode takes no need_weights).")
        if user is not None:
            codes = self.history_items_[self._user_indices([user], "get_attention_weights")[0]]
        else:
            from .data.sequences import pad_left

            codes = pad_left([self._item_indices(items, "get_attention_weights") + 1], self.max_seq_length)[0]
        n_real = int((codes > 0).sum())
        if n_real == 0:
            raise ValueError("get_attention_weights needs at least one item.")
        self.module_.eval()
        with torch.no_grad():
            _, weights = self.module_.encode(self._tensor(codes[None, :], dtype=torch.long), need_weights=True)
        ids = [x.item() if hasattr(x, "item") else x for x in self.item_index_[codes[-n_real:] - 1]]
        return ids, [w[0, :, -n_real:, -n_real:].float().cpu().numpy() for w in weights]

    def set_histories(self, df) -> int:
        """Read the users' histories (what recommend and score condition on) from df, without retraining.

        df: user_id, item_id, timestamp of known users, e.g. training plus the events that came after it (the paper
        predicts the test item from the training sequence plus the validation item). Users absent from df keep
        their history. The events of df also join the items ``recommend(exclude_seen=True)`` leaves out. Items the model never saw cannot be embedded: they are left out of the histories, with a
        warning; returns how many interactions were left out.
        """
        from .data.sequences import pad_left, user_sequences

        self._check_fitted()
        df = check_dataframe(self._check_frame(df, "df", "set_histories"), "df", ["timestamp"], "set_histories")
        rows = self._user_indices(pd.unique(df["user_id"]), "set_histories")
        known = self.item_index_.get_indexer(df["item_id"]) >= 0
        if not known.all():
            warnings.warn(f"set_histories: {int((~known).sum())} interactions with items unknown to the model were left "
                          f"out of the histories.", stacklevel=2)
        _, sequences = user_sequences(df[known], self.item_index_, self.user_index_[rows])
        self.history_items_ = self.history_items_.copy()
        self.history_items_[rows] = pad_left(sequences, self.max_seq_length)
        # what the user has had is not recommended again: for the users in df, the training items and df's events
        # (so that set_histories(train) gives back exactly the model's training state); the others keep theirs
        import scipy.sparse as sp

        if getattr(self, "_fit_seen_", None) is None:
            self._fit_seen_ = self.seen_  # the training interactions, kept the first time histories change
        in_df = np.zeros(self.seen_.shape[0], dtype=np.float32)
        in_df[rows] = 1.0
        seen = sp.diags(in_df) @ (self._fit_seen_ + self._interaction_matrix(df[known])) + sp.diags(1.0 - in_df) @ self.seen_
        self.seen_ = seen.tocsr()
        self.seen_.eliminate_zeros()
        self.seen_.data[:] = 1.0
        self.seen_.sort_indices()
        self._forget_cache()
        return int((~known).sum())

    def _extra_state(self):
        import torch

        return {"history_items": torch.from_numpy(self.history_items_)}

    def _set_extra_state(self, extra):
        self.history_items_ = extra["history_items"].numpy()
