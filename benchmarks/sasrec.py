"""SASRec under the paper's protocol on any file in the SASRec format, both losses; prints a line every N epochs.

    python -m benchmarks run sasrec --movielens --device cpu     # ML-100K converted to the format; the paper's
                                                                 # settings (the defaults below), BCE and CE
    python -m benchmarks run sasrec --data ml-1m.txt --device cuda --losses bce --max-seq-length 200
                                                                 # the paper's ML-1M settings
    python -m benchmarks run sasrec --movielens --device cuda --losses bce --batch-size 1024 \
        --learning-rate 0.004 --window-stride 1 --epochs 4 --tf32 --compile reduce-overhead   # the fast recipe

Format: one "user item" pair per line, each user's lines in time order, ids from 1 (kang205/SASRec's data/*.txt).
Protocol (Kang & McAuley 2018): each user's last item is the test item, the one before it the validation item, the
rest trains (InteractionDataset.split(strategy="leave_one_out", val_size=1); a user with 1 item only trains); the validation/test item is
ranked against 100 items drawn uniformly among those the user never interacted with; HR@10 and NDCG@10 on valid and
test. Prints seconds per epoch (training only) and sequences per second.

Measured on one H100 (torch 2.11; benchmarks/logs/2026-11-23-h100/sasrec_h100.md), ML-100K, BCE, hidden 50, 2 blocks,
max length 50: the paper's settings (batch 128, lr 0.001, last window only, 200 epochs) train 20,803 sequences/s eager
(36,062 with --compile reduce-overhead), test HR@10 0.6596, NDCG@10 0.3861. Every window (--window-stride 1), batch
1024, lr 0.004, --tf32, 4 epochs: 139,378 sequences/s eager (10.8x the reference implementation's ~12,900), test HR@10
0.6681, NDCG@10 0.4090; with --compile reduce-overhead 353,770 sequences/s (27x), test HR@10 0.6766, NDCG@10 0.4023
(0.67 s of training after a 39 s compilation).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from course_utils import Evaluator, InteractionDataset, SASRecRecommender
from course_utils.data.sequences import read_sasrec_file, write_sasrec_file

from ._common import median_epoch_seconds


class CompiledSASRec(SASRecRecommender):
    """SASRecRecommender whose encoder (encode) is torch.compile'd (the heads and the loss stay eager)."""

    compile_mode = None

    def _build_module(self):
        module = super()._build_module()
        module.encode = torch.compile(module.encode, mode=self.compile_mode)
        return module


class PaperProtocol:
    def __init__(self, model, train, valid, test, every: int, seed: int = 42):
        self.model, self.train, self.valid, self.test, self.every, self.seed = model, train, valid, test, every, seed
        self.evaluator = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10])
        self.rows = []

    def evaluate(self) -> dict:
        """Valid: ranked after the training sequence. Test: after the training sequence plus the validation item
        (the paper's evaluate()); the model is not retrained, only its histories are extended, then restored."""
        out = {}
        train_valid = pd.concat([self.train, self.valid])
        for name, part, history in (("valid", self.valid, self.train), ("test", self.test, train_valid)):
            self.model.set_histories(history)
            r = self.evaluator.evaluate(self.model, part, train_data=history, protocol="sampled", n_negatives=100,
                                        random_state=self.seed)
            out[f"{name} HR@10"], out[f"{name} NDCG@10"] = r["hit_rate@10"], r["ndcg@10"]
        self.model.set_histories(self.train)
        return out

    def __call__(self, epoch, train_loss, val_metrics):
        if epoch % self.every == 0:
            row = {"epoch": epoch, "train_loss": train_loss, **self.evaluate()}
            self.rows.append(row)
            print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a file in the SASRec format")
    source.add_argument("--movielens", action="store_true", help="convert MovieLens 100K to the format and use it")
    parser.add_argument("--losses", nargs="+", default=["bce", "ce"], choices=["bce", "ce"],
                        help="bce: the paper's (one sampled negative per position); ce: full softmax over the items")
    parser.add_argument("--embedding-dim", type=int, default=50)
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--n-heads", type=int, default=1)
    parser.add_argument("--max-seq-length", type=int, default=50)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--window-stride", type=int, default=0, help="0: the last window only (the paper)")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--compile", default="none", choices=["none", "default", "reduce-overhead"],
                        help="torch.compile the encoder (reduce-overhead: CUDA graphs too); the first epoch compiles")
    parser.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 matrix products (GPU)")


def run(args) -> list[dict]:
    if args.tf32:
        torch.set_float32_matmul_precision("high")
    if args.movielens:
        from course_utils import load_movielens

        path = Path(tempfile.mkdtemp()) / "ml-100k.txt"
        write_sasrec_file(load_movielens("100k"), path)
        print(f"MovieLens 100K written in the SASRec format to {path}")
    else:
        path = args.data
    df = read_sasrec_file(path)
    # the course's leave-one-out: last item -> test, the one before -> valid (a user with 2 items has no valid item)
    train, valid, test = (part.data for part in InteractionDataset(df, implicit=True).split(strategy="leave_one_out", val_size=1))
    print(f"{path.name}: {df.user_id.nunique():,} users, {df.item_id.nunique():,} items, {len(df):,} interactions; "
          f"{test.user_id.nunique():,} users evaluated", flush=True)
    rows = []
    for loss in args.losses:
        model = (CompiledSASRec if args.compile != "none" else SASRecRecommender)(
            embedding_dim=args.embedding_dim, n_layers=args.n_layers, n_heads=args.n_heads, max_seq_length=args.max_seq_length,
            dropout=args.dropout, learning_rate=args.learning_rate, batch_size=args.batch_size, epochs=args.epochs,
            loss=loss, window_stride=args.window_stride or None, device=args.device, random_state=42, verbose=False)
        model.compile_mode = None if args.compile == "default" else args.compile
        protocol = PaperProtocol(model, train, valid, test, args.eval_every)
        print(repr(model), flush=True)
        start = time.perf_counter()
        model.fit(train, callbacks=[protocol])
        wall = time.perf_counter() - start
        history = model.history_.to_frame()
        n_sequences = model.n_windows_
        if not protocol.rows or protocol.rows[-1]["epoch"] != len(history):
            protocol.rows.append({"epoch": len(history), "train_loss": history["train_loss"].iloc[-1], **protocol.evaluate()})
        table = pd.DataFrame(protocol.rows)
        table["train s"] = history["seconds"].cumsum().reindex(table["epoch"]).to_numpy()
        per_epoch = median_epoch_seconds(model)  # the first epoch also compiles (--compile) or warms up CUDA
        print(f"\n{loss}: {len(history)} epochs in {wall:.0f} s (with evaluations); first epoch "
              f"{history['seconds'].iloc[0]:.3f} s, then {per_epoch:.4f} s per training epoch (median) = "
              f"{n_sequences / per_epoch:,.0f} training sequences per second ({n_sequences:,} per epoch, batch {args.batch_size})")
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        best = table.loc[table["valid NDCG@10"].idxmax()]  # the epoch chosen on validation, as the paper does
        rows.append({"settings": f"SASRec {path.name}, leave-one-out + 100 negatives; loss {loss}, hidden {args.embedding_dim}, "
                                 f"{args.n_layers} blocks, {args.n_heads} head(s), max len {args.max_seq_length}, dropout "
                                 f"{args.dropout}, batch {args.batch_size}, lr {args.learning_rate}, "
                                 f"{'last window' if not args.window_stride else f'windows every {args.window_stride}'}, "
                                 f"{len(history)} epochs, compile {args.compile}{', tf32' if args.tf32 else ''}",
                     "metrics": {"test HR@10": round(float(best["test HR@10"]), 4),
                                 "test NDCG@10": round(float(best["test NDCG@10"]), 4),
                                 "at epoch (best valid NDCG@10)": int(best["epoch"]),
                                 "sequences/s": round(n_sequences / per_epoch)},
                     "s/epoch": per_epoch, "total s": wall})
    return rows
