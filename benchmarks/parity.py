"""Parity with the papers' reference code: each model with its paper's settings, on data its defaults never saw.

    python -m benchmarks run parity --part sasrec      # synthetic log, 31,013 users, SASRec format; the paper's
                                                       # settings, the ablation of the reference's choices
    python -m benchmarks run parity --part sasrec --data held_out.txt --variants course --seeds 0
    python -m benchmarks run parity --part ncf         # MovieLens 100K, leave-one-out + 99 negatives, the paper's
    python -m benchmarks run parity --part lightgcn    # MovieLens 100K, 75/25 per user with the reserved seed 2027

Data the defaults were not tuned on: the course tuned its defaults on MovieLens 100K's 75/25 per-user split with
seed 42 (and SASRec's on ML-100K's leave-one-out); here the sequence models read a synthetic log of the size and
shape of the SASRec paper's Amazon Games data (``make_synthetic(31013, 23715, n_groups=50, mean_interactions=9,
min_interactions=5, seed=2027)``, written to and read back from the SASRec format), and the others MovieLens 100K
with the split and model seed 2027, used for nothing else. Each part prints the learning curve (metric per epoch)
and the reference code's numbers at the same settings where they exist, and writes the curves as CSV to --out.

SASRec variants (``--variants``; every one with the paper's settings: hidden 50, 2 blocks, 1 head, max length 50,
dropout 0.5, batch 128, lr 0.001, BCE with one negative per position, the last window of each user):
    course                    the course's SASRec: the reference's initialization (Xavier-normal matrices and
                              embedding tables), LayerNorm epsilon 1e-8, negatives the user never had, no dropout on
                              the attention output
    unit-scale init           items N(0, 1/d), positions N(0, 1), PyTorch's default Linear init (the course's
                              initialization until the reference's was adopted); the rest as "course"
    eps 1e-5                  PyTorch's default LayerNorm epsilon; the rest as "course"
    uniform negatives         negatives drawn over all items (now and then one of the user's own)
    attention-output dropout  dropout on each block's attention output too
    all four changes          the four together: the course's SASRec before it adopted the reference's choices
    post-LN, reference architecture   (not in the default ablation) pmixer's post-LN block; pmixer's whole encoder
                              written for the module slot, to tell the training pipeline apart from the architecture
The protocol is the paper's (benchmarks/sasrec.py): the last item tests, the one before validates, each ranked
against 100 items the user never had; HR@10 and NDCG@10.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from course_utils import SASRecRecommender
from course_utils.models.ncf import MLP
from course_utils.models.sasrec import Block, SASRec

LOGS = Path(__file__).with_name("logs") / "parity"

# The reference implementations' numbers at the same settings, with where they come from.
REFERENCE = {
    "sasrec": {  # pmixer/SASRec.pytorch (python/ version: Xavier-normal init, post-LN blocks, LayerNorm eps 1e-8)
        "synthetic": ("pmixer/SASRec.pytorch run here on the same synthetic file, the same settings, seed 0; "
                      "benchmarks/logs/parity/reference_sasrec_synthetic.md",
                      {r["epoch"]: {"test HR@10": r["test_hr"], "test NDCG@10": r["test_ndcg"]}  # the run's own output
                       for r in pd.read_json(LOGS / "reference_sasrec_synthetic.jsonl", lines=True).to_dict("records")}),
        "held-out": ("pmixer/SASRec.pytorch on a held-out dataset of that size (31,013 users, 23,715 items; measured by "
                     "the course's reviewers, not shipped), 20 epochs",
                     {20: {"test HR@10": 0.6827, "test NDCG@10": 0.4565}}),
    },
}

SYNTHETIC = dict(n_users=31_013, n_items=23_715, n_groups=50, mean_interactions=9, min_interactions=5, seed=2027)


class OldInitSASRec(SASRec):
    """SASRec with the unit-scale initialization (the course's before it adopted the reference's): item table
    N(0, 1/d) (so item_emb * sqrt(d) starts at unit scale), position table N(0, 1) (nn.Embedding's default), every
    Linear at PyTorch's default."""

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        nn.init.normal_(self.item.weight, std=self.item.embedding_dim ** -0.5)
        nn.init.normal_(self.position.weight)
        with torch.no_grad():
            self.item.weight[0].zero_()


class Eps5SASRec(SASRec):
    """SASRec with PyTorch's default LayerNorm epsilon (1e-5) instead of the reference's 1e-8."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                m.eps = 1e-5


class DroppedAttention(nn.Module):
    """An attention whose output goes through dropout (as the course's block did before it followed the reference)."""

    def __init__(self, attention: nn.Module, dropout: float):
        super().__init__()
        self.inner, self.drop = attention, nn.Dropout(dropout)

    def forward(self, x, padding, need_weights: bool = False, last_only: bool = False):
        y, weights = self.inner(x, padding, need_weights, last_only)
        return self.drop(y), weights


class AttentionDropoutSASRec(SASRec):
    """SASRec with dropout on each block's attention output too (the references have none there)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for block in self.blocks:
            block.attention = DroppedAttention(block.attention, block.attention.dropout)


class PostLNBlock(Block):
    """The block of pmixer/SASRec.pytorch's default: layer normalization after each residual sum (post-LN)."""

    def forward(self, x, padding, need_weights: bool = False, last_only: bool = False):
        a, weights = self.attention(x, padding, need_weights, last_only)
        if last_only:
            x, padding = x[:, -1:], padding[:, -1:]
        x = self.ln1(x + a)
        x = self.ln2(x + self.ffn(x))
        return x.masked_fill(padding[..., None], 0.0), weights


class PostLNSASRec(SASRec):
    """SASRec with post-LN blocks (the rest as the course's)."""

    def __init__(self, n_items, dim=64, n_layers=2, n_heads=1, max_len=50, dropout=0.2, **kwargs):
        super().__init__(n_items, dim, n_layers, n_heads, max_len, dropout, **kwargs)
        self.blocks = nn.ModuleList(PostLNBlock(dim, n_heads, dropout) for _ in range(n_layers))
        self.reset_parameters()


class ReferenceArchitectureSASRec(nn.Module):
    """pmixer/SASRec.pytorch's default encoder, written for the course's module slot (to tell the training and
    evaluation pipeline apart from the architecture): nn.MultiheadAttention with the causal mask only (padding keys
    are not masked), post-LN blocks, FFN Linear-Dropout-ReLU-Linear-Dropout, positions 1..T on real items and 0 on
    padding, LayerNorm eps 1e-8, Xavier-normal on every parameter with 2 or more dimensions, padding rows 0."""

    def __init__(self, n_items, dim=50, n_layers=2, n_heads=1, max_len=50, dropout=0.2):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position = nn.Embedding(max_len + 1, dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.attention = nn.ModuleList(nn.MultiheadAttention(dim, n_heads, dropout, batch_first=True)
                                       for _ in range(n_layers))
        self.ln_attention = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(n_layers))
        self.ffn = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim, dim),
                                               nn.Dropout(dropout)) for _ in range(n_layers))
        self.ln_ffn = nn.ModuleList(nn.LayerNorm(dim, eps=1e-8) for _ in range(n_layers))
        self.ln = nn.LayerNorm(dim, eps=1e-8)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
        with torch.no_grad():
            self.item.weight[0].zero_()
            self.position.weight[0].zero_()

    def encode(self, seq, need_weights=False, last_only=False):
        t = seq.shape[1]
        positions = torch.arange(1, t + 1, device=seq.device) * (seq != 0)
        x = self.drop(self.item(seq) * self.item.embedding_dim ** 0.5 + self.position(positions))
        causal = ~torch.ones(t, t, dtype=torch.bool, device=seq.device).tril()  # True: not allowed
        for attention, ln_a, ffn, ln_f in zip(self.attention, self.ln_attention, self.ffn, self.ln_ffn, strict=True):
            a, _ = attention(x, x, x, attn_mask=causal, need_weights=False)
            x = ln_a(x + a)
            x = ln_f(x + ffn(x))
        h = self.ln(x)
        return h[:, -1:] if last_only else h

    forward = encode

    def item_scores(self, h):
        return h @ self.item.weight[1:].T

    def pair_scores(self, h, items):
        return (h * self.item(items)).sum(-1)


class OldSASRec(OldInitSASRec, Eps5SASRec, AttentionDropoutSASRec):
    """The course's SASRec module before it adopted the reference's choices: the unit-scale initialization,
    LayerNorm epsilon 1e-5 and dropout on the attention output."""


class UniformNegatives(SASRecRecommender):
    """Negatives drawn uniformly over all items, the user's own included (the course's earlier sampler)."""

    def _negatives(self, users, length):
        n = len(self.item_index_)
        return torch.randint(1, n + 1, (len(users), length), generator=self._generator, device=users.device)


SASREC_VARIANTS = {  # name -> (recommender class, module class)
    "course": (SASRecRecommender, SASRec),
    "unit-scale init": (SASRecRecommender, OldInitSASRec),
    "eps 1e-5": (SASRecRecommender, Eps5SASRec),
    "uniform negatives": (UniformNegatives, SASRec),
    "attention-output dropout": (SASRecRecommender, AttentionDropoutSASRec),
    "all four changes": (UniformNegatives, OldSASRec),
    "post-LN": (SASRecRecommender, PostLNSASRec),
    "reference architecture": (SASRecRecommender, ReferenceArchitectureSASRec),
}
ABLATION = ["course", "unit-scale init", "eps 1e-5", "uniform negatives", "attention-output dropout", "all four changes"]
PARTS = ["sasrec", "ncf", "lightgcn"]


def add_arguments(parser) -> None:
    parser.add_argument("--part", required=True, choices=PARTS, help="which model family")
    parser.add_argument("--data", type=Path, help="sasrec: a file in the SASRec format instead of the synthetic log")
    parser.add_argument("--variants", nargs="+", default=[], choices=list(SASREC_VARIANTS) + list(NCF_VARIANTS),
                        metavar="VARIANT", help=f"sasrec: which of {list(SASREC_VARIANTS)}; ncf: which of "
                                                f"{list(NCF_VARIANTS)} (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="model seeds (each variant runs each)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--out", type=Path, default=LOGS, help=f"folder for the curves' CSV (default {LOGS})")


def _sasrec_data(path: Path | None):
    from course_utils import InteractionDataset, make_synthetic
    from course_utils.data.sequences import read_sasrec_file, write_sasrec_file

    if path is None:
        path = Path(tempfile.mkdtemp()) / "synthetic.txt"
        write_sasrec_file(make_synthetic(**SYNTHETIC), path)
        name = "synthetic"
    else:
        name = path.stem
    df = read_sasrec_file(path)
    train, valid, test = (p.data for p in InteractionDataset(df, implicit=True).split(strategy="leave_one_out", val_size=1))
    print(f"{name}: {df.user_id.nunique():,} users, {df.item_id.nunique():,} items, {len(df):,} interactions", flush=True)
    return name, train, valid, test


def run_sasrec(args) -> tuple[list[dict], pd.DataFrame]:
    from .sasrec import PaperProtocol

    name, train, valid, test = _sasrec_data(args.data)
    curves, rows = [], []
    for variant in [v for v in args.variants if v in SASREC_VARIANTS] or ABLATION:
        recommender, module = SASREC_VARIANTS[variant]
        for seed in args.seeds:
            model = recommender(embedding_dim=50, n_layers=2, n_heads=1, max_seq_length=50, dropout=0.5,
                                learning_rate=0.001, batch_size=128, epochs=args.epochs, loss="bce", window_stride=None,
                                module=module, device=args.device, random_state=seed, verbose=False)
            protocol = PaperProtocol(model, train, valid, test, args.eval_every, seed=seed)
            print(f"{variant}, seed {seed}:", flush=True)
            start = time.perf_counter()
            model.fit(train, callbacks=[protocol])
            wall = time.perf_counter() - start
            seconds = model.history_.to_frame()["seconds"].cumsum()
            for r in protocol.rows:
                curves.append({"data": name, "variant": variant, "seed": seed, **r,
                               "train s": float(seconds.iloc[r["epoch"] - 1])})
            last = protocol.rows[-1]
            rows.append({"settings": f"parity sasrec: {name}, {variant}, seed {seed}; paper settings (hidden 50, 2 blocks, "
                                     f"1 head, max len 50, dropout 0.5, batch 128, lr 0.001, BCE, last window), "
                                     f"{args.epochs} epochs, leave-one-out + 100 negatives",
                         "metrics": {"test HR@10": round(last["test HR@10"], 4), "test NDCG@10": round(last["test NDCG@10"], 4),
                                     "valid HR@10": round(last["valid HR@10"], 4), "at epoch": last["epoch"]},
                         "s/epoch": float(model.history_.to_frame()["seconds"].mean()), "total s": wall})
    curves = pd.DataFrame(curves)
    for source, (what, numbers) in REFERENCE["sasrec"].items():
        if numbers and (source == name or source == "held-out" and name != "synthetic"):
            print(f"reference ({what}): " + "; ".join(f"epoch {e}: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items())
                                                      for e, m in numbers.items()))
    return rows, curves


class Curve:
    """A fit callback: every ``every`` epochs, the model's metrics on each named part -> rows (the learning curve).

    parts: {name: (split part, the interactions the model saw for it: removed from its candidates)}."""

    def __init__(self, model, parts: dict, evaluator, every: int, **evaluate_kwargs):
        self.model, self.parts, self.evaluator, self.every, self.kwargs = model, parts, evaluator, every, evaluate_kwargs
        self.rows = []

    def __call__(self, epoch, train_loss, val_metrics):
        if epoch % self.every == 0:
            row = {"epoch": epoch, "train_loss": train_loss}
            for name, (part, seen) in self.parts.items():
                metrics = self.evaluator.evaluate(self.model, part, train_data=seen, **self.kwargs).metrics()
                row.update({f"{name} {k}": round(v, 4) for k, v in metrics.items()})
            self.rows.append(row)
            print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)


def _fit_along_the_curve(model, train, curve: Curve, select: str, settings: str) -> dict:
    """Fit with the curve as a callback; the RESULTS row: the test metrics at the epoch with the best validation
    ``select`` (the epoch is chosen on validation, never on test)."""
    start = time.perf_counter()
    model.fit(train, callbacks=[curve])
    wall = time.perf_counter() - start
    best = max(curve.rows, key=lambda r: r[f"valid {select}"])
    metrics = {k: v for k, v in best.items() if k.startswith("test ")}
    return {"settings": settings, "metrics": {**metrics, f"at epoch (best valid {select})": best["epoch"]},
            "s/epoch": float(model.history_.to_frame()["seconds"].mean()), "total s": wall}


class ReferenceInitMLP(MLP):
    """NCF's MLP with the reference code's initialization (hexiangnan/neural_collaborative_filtering, Keras):
    Glorot-uniform tower with zero biases, LeCun-uniform output layer; the embeddings N(0, 0.01) as the course's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for layer in self.tower:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        bound = (3 / self.head.in_features) ** 0.5
        nn.init.uniform_(self.head.weight, -bound, bound)
        nn.init.zeros_(self.head.bias)


PAPER_NCF = dict(embedding_dim=8, hidden_layers=(64, 32, 16, 8), dropout=0.0, learning_rate=0.001, batch_size=256,
                 n_negatives=4)  # He et al. 2017 at predictive factor 8 (the reference code's defaults)
NCF_VARIANTS = {
    "GMF": dict(model="gmf"),
    "MLP": dict(model="mlp"),
    "MLP, reference init": dict(model="mlp", module=ReferenceInitMLP),
    "NeuMF": dict(model="neumf", pretrain=False),
    "NeuMF, pre-trained": dict(model="neumf", pretrain=True),
}


def run_ncf(args) -> tuple[list[dict], pd.DataFrame]:
    """The paper's protocol on MovieLens 100K: each user's last interaction tests, the one before validates, each
    ranked against 99 items the user never had (the reference code's test.negative files hold 99), HR@10, NDCG@10."""
    from course_utils import Evaluator, InteractionDataset, NCFRecommender, load_movielens

    train, valid, test = (p.data for p in InteractionDataset(load_movielens("100k"), implicit=True)
                          .split(strategy="leave_one_out", val_size=1))
    seen_for_test = pd.concat([train, valid])
    evaluator = Evaluator(metrics=["hit_rate", "ndcg"], k_values=[10])
    variants = [v for v in args.variants if v in NCF_VARIANTS] or list(NCF_VARIANTS)
    curves, rows = [], []
    for variant in variants:
        for seed in args.seeds:
            print(f"{variant}, seed {seed}:", flush=True)
            model = NCFRecommender(**PAPER_NCF, **NCF_VARIANTS[variant], epochs=args.epochs, device=args.device,
                                   random_state=seed, verbose=False)
            curve = Curve(model, {"valid": (valid, train), "test": (test, seen_for_test)}, evaluator, args.eval_every,
                          protocol="sampled", n_negatives=99, random_state=seed)
            settings = (f"parity ncf: ML-100K leave-one-out + 99 negatives, {variant}, the paper's settings (factor 8, "
                        f"MLP [64, 32, 16, 8], batch 256, lr 0.001, 4 negatives, no dropout), {args.epochs} epochs, "
                        f"seed {seed}")
            rows.append(_fit_along_the_curve(model, train, curve, "ndcg@10", settings))
            curves += [{"data": "ml-100k leave-one-out", "variant": variant, "seed": seed, **r} for r in curve.rows]
    print("published (He et al. 2017, MovieLens 1M, not this data): NeuMF with pre-training, factor 64: HR@10 0.730, "
          "NDCG@10 0.447")
    return rows, pd.DataFrame(curves)


def run_lightgcn(args) -> tuple[list[dict], pd.DataFrame]:
    """MovieLens 100K, 75/25 per user with the reserved seed 2027 (10% of each user's training part validates),
    full ranking, recall@20 and ndcg@20: the paper's settings (lr 0.001 constant, batch 2048, L2 1e-4, users drawn
    uniformly) against the course's defaults (lr 0.02 decayed linearly, L2 1e-3, every interaction once)."""
    from course_utils import Evaluator, InteractionDataset, LightGCNRecommender, load_movielens

    dataset = InteractionDataset(load_movielens("100k"), implicit=True)
    train, valid, test = (p.data for p in dataset.split(test_size=0.25, val_size=0.1, strategy="user_random", seed=2027))
    seen_for_test = pd.concat([train, valid])
    evaluator = Evaluator(metrics=["recall", "ndcg"], k_values=[20])
    settings = {"paper": dict(learning_rate=0.001, batch_size=2048, reg_lambda=1e-4, sampling="user",
                              lr_schedule="constant", epochs=args.epochs),
                "course defaults": dict(epochs=60),
                "course defaults, users drawn uniformly": dict(epochs=60, sampling="user")}
    curves, rows = [], []
    for variant, kwargs in settings.items():
        for seed in args.seeds:
            print(f"{variant}, seed {seed}:", flush=True)
            model = LightGCNRecommender(embedding_dim=64, n_layers=3, **kwargs, device=args.device, random_state=seed,
                                        verbose=False)
            every = args.eval_every if variant == "paper" else 10
            curve = Curve(model, {"valid": (valid, train), "test": (test, seen_for_test)}, evaluator, every)
            settings = (f"parity lightgcn: ML-100K 75/25 per user (seed 2027, 10% validation), {variant} "
                        f"({', '.join(f'{k} {v}' for k, v in kwargs.items())}), seed {seed}, full ranking")
            rows.append(_fit_along_the_curve(model, train, curve, "ndcg@20", settings))
            curves += [{"data": "ml-100k 75/25 seed 2027", "variant": variant, "seed": seed, **r} for r in curve.rows]
    print("published (He et al. 2020, Gowalla, not this data): recall@20 0.1830, ndcg@20 0.1554; the course on Gowalla: "
          "0.1818 / 0.1551 (RESULTS.md, lightgcn-gowalla, H100)")
    return rows, pd.DataFrame(curves)


def add_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (max - min) over seeds, per data, variant and epoch."""
    metrics = [c for c in curves.columns if "@" in c]
    g = curves.groupby(["data", "variant", "epoch"], sort=False)
    out = g[metrics].mean().round(4)
    out["seeds"] = g.size()
    for m in metrics:
        if m.startswith("test"):
            out[f"{m} spread"] = (g[m].max() - g[m].min()).round(4)
    return out.reset_index()


def run(args) -> list[dict]:
    rows, curves = {"sasrec": run_sasrec, "ncf": run_ncf, "lightgcn": run_lightgcn}[args.part](args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.part}_curves.csv"
    if path.exists():  # runs add to the file: a variant or seed run later joins the earlier ones
        old = pd.read_csv(path)
        key = ["data", "variant", "seed", "epoch"]
        curves = pd.concat([old, curves]).drop_duplicates(key, keep="last").sort_values(key, kind="stable")
    curves.to_csv(path, index=False)
    print(f"\ncurves -> {path}")
    print(add_summary(curves).to_string(index=False))
    return rows
