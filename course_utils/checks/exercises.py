"""Every graded exercise of the course: id, points, kind, hint, and a digest of the answer (never the answer).

Chapter "ex" is the mechanism's own example (tests/example_exercises.ipynb, on a synthetic log); "ch0" is the quick
start. A teacher adds an exercise with a digest from ``make_digest(id, kind, value)``.
"""
from .core import Exercise, register
from .functions import (accuracy_at_k_run, adjacency_run, attention_run, best_trial_run, bpr_run, causal_mask_run,
                        cloze_run, grid_size_run, keras_builder_run, keras_tuner_build_run, layer_mean_run,
                        lstm_mha_shapes_run, lstm_parameters_run, module_run, ndcg_run, next_item_hit_rate_run,
                        optuna_space_run, precision_run, propagation_run, sampler_run, training_pair_run)


def _scorer_batch():
    import torch

    g = torch.Generator().manual_seed(0)
    users, items = torch.arange(8), torch.arange(8) * 2
    return (users, items), torch.randint(1, 6, (8,), generator=g).float()


def _mse(pred, target):
    return ((pred - target) ** 2).mean()


def _rating_batch():
    import torch

    g = torch.Generator().manual_seed(1)
    users, items = torch.randint(1, 65, (16,), generator=g), torch.randint(1, 65, (16,), generator=g)
    return (users, items), torch.randint(1, 6, (16,), generator=g).float()


def _bce(pred, target):
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(pred, target)


def _implicit_batch():
    import torch

    g = torch.Generator().manual_seed(2)
    users, items = torch.randint(0, 64, (16,), generator=g), torch.randint(0, 64, (16,), generator=g)
    return (users, items), (torch.rand(16, generator=g) < 0.5).float()


def _seed_keras_model(n_users, n_items):
    from ..models.keras_mlp import build_keras_mlp

    return build_keras_mlp(n_users, n_items, embedding_dim=5, hidden_layers=(128, 32))


register(
    Exercise("ex.n-interactions", "Count the interactions of the synthetic log", 1, "exact",
             "len(df) counts the rows of a DataFrame; each row is one interaction.",
             digest="fa5b31523f739afad75ab883ac8c03f0"),
    Exercise("ex.mean-rating", "The mean rating of the synthetic log", 1, "number",
             "take the mean of the rating column (it should lie between 1 and 5).",
             digest="cdbb8231def1a8042d2e9ba9eda517ff", tolerance=0.005),
    Exercise("ex.top-items", "The three most popular items", 1, "set",
             "count interactions per item_id (value_counts) and keep the ids of the three largest counts.",
             digest="fb0f664eea91c064693fcf52a566d7df"),
    Exercise("ex.precision", "Write precision_at_k", 2, "function",
             "count how many of the first k ranked items are relevant, and divide by k.", run=precision_run),
    Exercise("ex.scorer", "A learnable user-item scorer", 2, "model",
             "give users and items an nn.Embedding each (64 users, 64 items are enough) and return the row-wise dot "
             "product, one score per (user, item) pair.",
             run=module_run(_scorer_batch, (8,), _mse, steps=40, lr=0.05)),
    Exercise("ch0.most-active", "Ratings of the most active user", 1, "exact",
             "group the ratings by user_id, count the rows of each group, and take the largest count.",
             digest="5294f8918e8610b6fe63983fcbeece36"),
    Exercise("ch0.ndcg", "Write ndcg_at_k", 2, "function",
             "DCG adds 1 / log2(position + 1) for every relevant item among the first k (positions start at 1); "
             "divide by the DCG of an ideal list that puts min(k, number of relevant items) hits first.",
             run=ndcg_run),
    Exercise("ch1.split-size", "Training rows after a 4:1 split", 1, "exact",
             "split with test_size=0.2 and seed 42 (dataset.split or sklearn's train_test_split), then count the training rows.",
             digest="e80e6ea72bfa48c7081e479402d9fe6f"),
    Exercise("ch1.n-items", "Unique movies", 1, "exact", "count the distinct values of the item_id column (nunique).",
             digest="f8fd3ade7bde34714892dbe17cfeb1a7"),
    Exercise("ch1.n-users", "Unique users", 1, "exact", "count the distinct values of the user_id column (nunique).",
             digest="6aad873baf7e83a51a84ddf968a932fb"),
    Exercise("ch1.baseline-rmse", "RMSE of the global-mean baseline", 1, "number",
             "predict the mean rating of the TRAINING part for every test row, then take the root of the mean squared error "
             "on the test part.", digest="ef96aeb22c47da2264639624c6b97f4d", tolerance=0.001),
    Exercise("ch1.keras-model", "The seed's Keras model", 2, "function",
             "two Input(shape=(1,)) layers; Embedding(n + 1, 5) and Flatten for each; Concatenate; Dense(128, relu), "
             "Dense(32, relu), Dense(1); Model([user_input, item_input], output).", run=keras_builder_run(_seed_keras_model)),
    Exercise("ch1.torch-forward", "The PyTorch twin's forward", 2, "model",
             "embed users and items, concatenate the two vectors along the last dimension (torch.cat(..., dim=-1)), pass "
             "them through self.mlp and squeeze the last dimension so that one rating per pair comes out.",
             run=module_run(_rating_batch, (16,), _mse, steps=60, lr=0.02, ctor_kwargs={"n_users": 64, "n_items": 64})),
    Exercise("ch2.gmf-forward", "GMF's forward pass", 2, "model",
             "multiply the user and the item embedding element-wise (p_u * q_i, shape (B, dim)), pass the product through "
             "self.head and squeeze the last dimension: one logit per pair.",
             run=module_run(_implicit_batch, (16,), _bce, steps=60, lr=0.05, ctor_kwargs={"n_users": 64, "n_items": 64})),
    Exercise("ch2.sampler", "A negative sampler that never returns a positive", 2, "function",
             "draw uniformly from range(n_items) with numpy's default_rng(seed) and redraw whatever lands in positives "
             "(or draw directly from the list of items that are not positives).", run=sampler_run),
    Exercise("ch2.hr", "HR@10 by hand", 1, "number",
             "a user scores 1 when the held-out item's rank is at most 10, else 0; average over the three users.",
             digest="944ce2acbb5146f2f6e2b271a009ea3d", tolerance=0.001),
    Exercise("ch2.ndcg-by-hand", "NDCG@10 by hand", 1, "number",
             "with one relevant item NDCG@10 = 1 / log2(rank + 1) when rank <= 10, else 0 (the ideal DCG is 1); "
             "average over the three users.", digest="e4fdc48ef22d5ecc40c86a51c111eb16", tolerance=0.001),
    Exercise("ch2.protocol", "Which protocol gives the larger number", 1, "exact",
             "compare the two evaluation tables above for the same model.", digest="7abed885f08e3a4d20f3c210df2b7631",
             extra={"type": "str"}),
    Exercise("ch3.adjacency", "The normalized adjacency of a tiny graph", 2, "function",
             "stack A = [[0, R], [R^T, 0]] (users first), take the degrees d = A.sum(1), and divide every entry A[a, b] by "
             "sqrt(d[a] * d[b]); a node of degree 0 gets a row of zeros (np.divide with where=, or replace the 0 degree).",
             run=adjacency_run),
    Exercise("ch3.propagate", "One propagation step from the formula", 2, "function",
             "a user's next embedding is the sum over its items i of e_i / sqrt(|N_u| |N_i|), and symmetrically for "
             "items; with D_u = R.sum(1) and D_i = R.sum(0) this is (R / sqrt(D_u D_i^T)) @ item_emb. Guard the degree-0 "
             "nodes.", run=propagation_run),
    Exercise("ch3.layer-mean", "The final embedding: the mean of the layers", 2, "function",
             "keep a list that starts with E0, append A_hat @ (the last one) n_layers times, and average the list.",
             run=layer_mean_run),
    Exercise("ch3.bpr", "The BPR loss for given scores", 1, "function",
             "the mean over pairs of -log(sigmoid(pos - neg)); np.logaddexp(0, -(pos - neg)) computes -log sigmoid "
             "without overflow.", run=bpr_run),
    Exercise("ch4.causal-mask", "The causal mask", 1, "function",
             "row t is the query position, column s the key position; position t may look at s when s <= t: "
             "np.tril of a matrix of ones.", run=causal_mask_run),
    Exercise("ch4.attention", "Scaled dot-product attention", 2, "function",
             "scores = Q @ K.T / sqrt(d) with d = Q.shape[-1]; where mask is False set the score to -inf; softmax over "
             "the last axis (subtract the row maximum first); output = weights @ V.", run=attention_run),
    Exercise("ch4.training-sequence", "A padded training sequence and its targets", 2, "function",
             "take the last max_len + 1 items of the history; inputs are all of them but the last, targets all but the "
             "first; put zeros on the left until both have max_len entries.", run=training_pair_run),
    Exercise("ch4.hit-rate", "Hit rate of next-item lists", 1, "function",
             "for each user, 1 if their next item is in recommended[u][:k], else 0; return the mean over users.",
             run=next_item_hit_rate_run),
    Exercise("ch5.cloze", "Masking a window for the cloze task", 2, "function",
             "masked = (draws < mask_prob) & (window != 0); if nothing is masked and the last item is real, mask the "
             "last one; inputs = mask_token where masked, else the window; labels = the window where masked, else 0.",
             run=cloze_run),
    Exercise("ch5.shapes", "The shapes through an LSTM + MHA block", 1, "function",
             "the embedding adds emb_dim, the LSTM turns it into hidden_dim, each head gets hidden_dim // n_heads "
             "dimensions and a (seq_len, seq_len) matrix of weights, the output layer maps hidden_dim to n_items.",
             run=lstm_mha_shapes_run),
    Exercise("ch5.accuracy", "Accuracy@k from logits", 1, "function",
             "the target's logit is logits[row, target]; the target is in the top k when fewer than k logits of its row "
             "are strictly larger; average over rows.", run=accuracy_at_k_run),
    Exercise("ch5.lstm-params", "Counting an LSTM's parameters", 2, "function",
             "each of the 4 gates has W_ih (hidden x input), W_hh (hidden x hidden) and, in PyTorch, two bias vectors "
             "b_ih and b_hh of size hidden.", run=lstm_parameters_run),
    Exercise("ch6.build-model", "A Keras Tuner build_model", 2, "function",
             "hp.Int('embedding_dim', 2, 16, step=2), hp.Choice('units', [32, 64, 128, 256]), hp.Float('dropout', 0.0, "
             "0.3, step=0.1), hp.Float('learning_rate', 1e-3, 1e-2, sampling='log'); pass them to build_keras_mlp(..., "
             "hidden_layers=(units, 32), dropout=...) and compile with Adam(learning_rate) and loss='mse'.",
             run=keras_tuner_build_run),
    Exercise("ch6.grid-size", "Counting the trials of a grid", 1, "function",
             "a list gives len(list) values; a range (low, high, step) gives floor((high - low) / step) + 1 values "
             "(add a small epsilon before the floor for float steps); multiply over all hyperparameters.",
             run=grid_size_run),
    Exercise("ch6.optuna-space", "An Optuna search space for GMF", 2, "function",
             "trial.suggest_int('embedding_dim', 8, 64, log=True), trial.suggest_float('learning_rate', 1e-4, 3e-2, "
             "log=True), trial.suggest_int('n_negatives', 1, 8); return them in a dict under the same names.",
             run=optuna_space_run),
    Exercise("ch6.best-trial", "The best trial of a results table", 1, "function",
             "keep the rows whose state is 'COMPLETE'; take the max (maximize) or min (minimize) of 'value'; among equal "
             "values return the smallest 'number'.", run=best_trial_run),
)
