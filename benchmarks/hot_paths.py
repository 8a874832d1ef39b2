"""The hot paths of training and evaluation, timed one at a time, with the faster variant the course uses beside the plain one.

* optimizer step: NeuMF (64, [128, 64, 32], batch 256) training steps with Adam's default loop, foreach and fused
  implementations (the course's NCF uses fused);
* batching: indexing every batch out of the epoch's tensors vs shuffling once and slicing views (the course's);
* negative sampling: one epoch of negatives (4 per positive on ML-100K, 1 per positive on Gowalla), NumPy
  UniformSampler vs TorchUniformSampler on the device;
* sparse propagation: one LightGCN forward + backward over Gowalla's normalized adjacency (3 layers, dim 64),
  torch's own CSR gradient vs the symmetric one (_SymmetricSpMM), int64 vs int32 indices;
* full-ranking evaluation: Evaluator on the ML-100K test part (943 users x 1,682 items, training items removed).
"""
from __future__ import annotations

import time
from functools import partial

import pandas as pd


def add_arguments(parser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="the best of this many timings is kept")


def _best(fn, repeats: int, sync=None) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return min(times)


def run(args) -> list[dict]:
    import torch

    from course_utils import (Evaluator, InteractionDataset, InteractionSplit, LightGCNRecommender, UniformSampler,
                              load_gowalla, load_movielens)
    from course_utils.data.sampling import TorchUniformSampler
    from course_utils.models.lightgcn import LightGCN, _SymmetricSpMM, normalized_adjacency, to_torch_csr
    from course_utils.models.ncf import NeuMF

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    rep = args.repeats
    results = []  # (path, variant, seconds, unit)
    train, test = InteractionDataset(load_movielens("100k"), implicit=True).split(test_size=0.25, strategy="user_random", seed=42)

    # optimizer step and batching: 200 NeuMF steps at batch 256
    torch.manual_seed(0)
    n, steps, batch = 375_000, 200, 256
    users, items = torch.randint(943, (n,), device=device), torch.randint(1682, (n,), device=device)
    labels = (torch.rand(n, device=device) < 0.2).float()
    order = torch.randperm(n, device=device)
    model = NeuMF(943, 1682, 64, (128, 64, 32)).to(device)

    def train_steps(optimizer, views: bool):
        u, i, y = (users[order], items[order], labels[order]) if views else (users, items, labels)
        for s in range(steps):
            if views:
                bu, bi, by = u[s * batch:(s + 1) * batch], i[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
            else:
                b = order[s * batch:(s + 1) * batch]
                bu, bi, by = users[b], items[b], labels[b]
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.binary_cross_entropy_with_logits(model(bu, bi), by).backward()
            optimizer.step()

    for variant, kwargs in [("Adam, default loop", {"foreach": False}), ("Adam, foreach", {"foreach": True}),
                            ("Adam, fused (course)", {"fused": True})]:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **kwargs)
        train_steps(optimizer, True)  # warm-up, creates the state
        results.append(("NeuMF training step, batch 256", variant, _best(partial(train_steps, optimizer, True), rep, sync) / steps, "step"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    results.append(("NeuMF training step, batch 256, fused Adam: batching", "batches indexed from the epoch tensors",
                    _best(lambda: train_steps(optimizer, False), rep, sync) / steps, "step"))
    results.append(("NeuMF training step, batch 256, fused Adam: batching", "shuffled once, batches are views (course)",
                    _best(lambda: train_steps(optimizer, True), rep, sync) / steps, "step"))

    # negative sampling, one epoch
    gowalla = load_gowalla()
    gowalla_set = InteractionDataset(gowalla.loc[gowalla["split"] == "train", ["user_id", "item_id"]], implicit=True)
    g_train = InteractionSplit(gowalla_set.data, gowalla_set, "train")
    for name, data, n_neg in [("ML-100K, 4 per positive", train, 4), ("Gowalla, 1 per positive", g_train, 1)]:
        positives, user_idx = data.to_csr(), data.user_indices()
        numpy_sampler = UniformSampler(data.n_items, random_state=0)
        results.append((f"negative sampling, one epoch ({name})", "NumPy UniformSampler (CPU)",
                        _best(partial(numpy_sampler.sample, user_idx, positives, n_neg), rep), "epoch"))
        torch_sampler = TorchUniformSampler(positives, device, torch.Generator(device=device).manual_seed(0))
        u = torch.as_tensor(user_idx, device=device)
        results.append((f"negative sampling, one epoch ({name})", f"TorchUniformSampler ({device.type})",
                        _best(partial(torch_sampler.sample, u, n_neg), rep, sync), "epoch"))

    # sparse propagation: forward + backward of 3 layers on Gowalla
    a_hat = normalized_adjacency(g_train.to_csr())
    module = LightGCN(g_train.n_users, g_train.n_items, 64, 3).to(device)

    def propagate(a, fn):
        e = module.embedding.weight
        total = e
        for _ in range(3):
            e = a @ e if fn is None else fn.apply(a, e)  # None: torch's own CSR gradient (a transposed product)
            total = total + e
        (total / 4).sum().backward()

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a64 = torch.sparse_csr_tensor(torch.as_tensor(a_hat.indptr, dtype=torch.int64), torch.as_tensor(a_hat.indices, dtype=torch.int64),
                                      torch.as_tensor(a_hat.data), a_hat.shape, device=device)
        a32 = to_torch_csr(a_hat, device)
        for variant, a, fn in [("torch's CSR gradient (transpose), int64", a64, None),
                               ("symmetric gradient, int64", a64, _SymmetricSpMM),
                               ("symmetric gradient, int32 (course)", a32, _SymmetricSpMM)]:
            propagate(a, fn)
            results.append(("LightGCN propagation, forward + backward (Gowalla, 3 layers, dim 64)", variant,
                            _best(partial(propagate, a, fn), rep, sync), "step"))

    # full-ranking evaluation
    lightgcn = LightGCNRecommender(epochs=1, device=args.device, verbose=False).fit(train.data)
    evaluator = Evaluator(metrics=["ndcg", "precision", "recall"], k_values=[10])
    results.append(("full-ranking evaluation (ML-100K test, LightGCN)", "Evaluator.evaluate",
                    _best(lambda: evaluator.evaluate(lightgcn, test, train_data=train), rep), "evaluation"))

    table = pd.DataFrame(results, columns=["path", "variant", "seconds", "per"])
    table["ms"] = (table["seconds"] * 1000).round(3)
    table["speed-up vs first variant"] = (table.groupby("path", sort=False)["seconds"].transform("first") / table["seconds"]).round(2)
    print(table.drop(columns="seconds").to_string(index=False))
    return [{"settings": f"hot path: {r['path']}; {r['variant']}",
             "metrics": {f"ms per {r['per']}": r["ms"], "speed-up vs first variant": r["speed-up vs first variant"]},
             "total s": ""} for r in table.to_dict("records")]
