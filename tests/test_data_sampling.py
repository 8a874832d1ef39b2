"""Negative samplers and sampled-evaluation candidates: never a positive, right distribution, clear errors."""
import numpy as np
import pytest
import scipy.sparse as sp

from course_utils import InteractionDataset, PopularitySampler, UniformSampler, sample_eval_candidates


@pytest.fixture
def split(synthetic_df):
    train, _ = InteractionDataset(synthetic_df, implicit=True).split(test_size=0.2, strategy="user_random")
    return train


def test_uniform_negatives_are_never_positives(split):
    pos = split.to_csr()
    users = np.repeat(np.arange(split.n_users), 50)
    neg = UniformSampler(split.n_items, random_state=0).sample(users, pos, n_negatives=4)
    assert neg.shape == (len(users), 4) and neg.dtype == np.int64
    assert np.asarray(pos[np.repeat(users, 4), neg.ravel()]).ravel().sum() == 0
    # uniform over each user's non-positive items: every item gets drawn
    assert len(np.unique(neg)) == split.n_items


def test_dense_user_still_gets_its_only_negative():
    pos = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 0]]))
    neg = UniformSampler(4, random_state=1).sample(np.zeros(100, dtype=np.int64), pos)
    assert (neg == 3).all()


def test_seeded_sampler_is_reproducible(split):
    pos, users = split.to_csr(), np.arange(split.n_users)
    a = UniformSampler(split.n_items, random_state=5).sample(users, pos, 3)
    b = UniformSampler(split.n_items, random_state=5).sample(users, pos, 3)
    assert (a == b).all()


def test_popularity_sampler_follows_popularity(split):
    pop = split.item_popularity()
    sampler = PopularitySampler(split.n_items, pop, random_state=0)
    empty = sp.csr_matrix((split.n_users, split.n_items))
    neg = sampler.sample(np.zeros(200_000, dtype=np.int64), empty)
    freq = np.bincount(neg.ravel(), minlength=split.n_items) / neg.size
    assert np.corrcoef(freq, pop / pop.sum())[0, 1] > 0.99
    assert freq[pop == 0].sum() == 0  # never-seen items are never drawn
    by_dict = PopularitySampler(split.n_items, dict(enumerate(pop.tolist())))
    assert np.allclose(by_dict._cdf, sampler._cdf)


def test_starved_user_is_an_error():
    pos = sp.csr_matrix(np.array([[1, 1, 1], [0, 1, 0]]))
    with pytest.raises(ValueError, match="User index 0 has no item left"):
        UniformSampler(3).sample(np.array([0, 1]), pos)
    with pytest.raises(ValueError, match="has no item left"):
        PopularitySampler(3, [0, 5, 5]).sample(np.array([1]), sp.csr_matrix(np.array([[0, 1, 1], [0, 1, 1]])))


@pytest.mark.parametrize("call, error, match", [
    (lambda: UniformSampler(1), ValueError, "'n_items' parameter of UniformSampler must be an int >= 2. Got 1"),
    (lambda: UniformSampler(5).sample(np.array([0]), np.ones((1, 5))), TypeError, "scipy sparse"),
    (lambda: UniformSampler(5).sample(np.array([0]), sp.csr_matrix((1, 4))), ValueError, "n_items=5 columns"),
    (lambda: UniformSampler(5).sample(np.array([3]), sp.csr_matrix((2, 5))), ValueError, r"indices in \[0, 2\). Got 3"),
    (lambda: UniformSampler(5).sample(np.array([0]), sp.csr_matrix((1, 5)), 0), ValueError, "'n_negatives'"),
    (lambda: PopularitySampler(3, [1, 2]), ValueError, "length n_items=3"),
    (lambda: PopularitySampler(3, {1: 2, 7: 1}), ValueError, "keyed by item indices"),
    (lambda: PopularitySampler(3, [1, np.nan, 2]), ValueError, "without NaN"),
])
def test_bad_sampler_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_eval_candidates_are_distinct_unseen_with_target_first(split):
    pos = split.to_csr()
    users = np.arange(split.n_users)
    targets = np.array([np.flatnonzero(pos[u].toarray().ravel() == 0)[0] for u in users])  # an unseen test item
    cand = sample_eval_candidates(pos, users, targets, n_negatives=20, random_state=0)
    assert cand.shape == (split.n_users, 21) and (cand[:, 0] == targets).all()
    negs = cand[:, 1:]
    assert all(len(set(row)) == 20 for row in negs)
    assert np.asarray(pos[np.repeat(users, 20), negs.ravel()]).ravel().sum() == 0
    assert not (negs == targets[:, None]).any()


def test_eval_candidates_need_enough_free_items():
    pos = sp.csr_matrix(np.array([[1, 1, 0, 0, 0]]))
    with pytest.raises(ValueError, match="at most the number of items user index 0 never touched \\(2\\)"):
        sample_eval_candidates(pos, np.array([0]), np.array([2]), n_negatives=3)


def _small_positives():
    dense = np.zeros((4, 12), dtype=int)
    dense[0, [0, 1, 2]] = 1
    dense[1, [5]] = 1
    dense[2, [0, 3, 6, 9, 11]] = 1
    dense[3, :8] = 1
    return sp.csr_matrix(dense), np.array([0, 1, 2, 3, 0, 2]), np.array([3, 0, 1, 8, 4, 2])


def test_seeded_outputs_are_pinned():
    # the draws of the samplers before the memory-bounded batching: a fixed seed must keep giving these exact arrays
    pos, users, targets = _small_positives()
    assert sample_eval_candidates(pos, users, targets, 3, random_state=7).tolist() == [
        [3, 8, 7, 10], [0, 1, 6, 4], [1, 4, 5, 8], [8, 11, 10, 9], [4, 10, 5, 11], [2, 5, 7, 1]]
    assert UniformSampler(12, random_state=7).sample(users, pos, 3).tolist() == [
        [11, 7, 8], [10, 6, 9], [10, 2, 1], [8, 9, 10], [10, 3, 5], [4, 1, 5]]
    assert PopularitySampler(12, np.arange(12) % 5, alpha=0.5, random_state=7).sample(users, pos, 3).tolist() == [
        [7, 9, 9], [3, 3, 9], [1, 7, 1], [9, 9, 8], [3, 4, 6], [7, 1, 1]]


def test_eval_candidates_do_not_depend_on_the_batching(split, monkeypatch):
    import course_utils.data.sampling as sampling

    pos = split.to_csr()
    rng = np.random.default_rng(0)
    users = rng.integers(0, split.n_users, 700)
    targets = np.array([np.flatnonzero(pos[u].toarray().ravel() == 0)[0] for u in users])
    whole = sample_eval_candidates(pos, users, targets, 15, random_state=4)
    for batch_size in (1, 7, 10_000):
        assert (sample_eval_candidates(pos, users, targets, 15, random_state=4, batch_size=batch_size) == whole).all()
    monkeypatch.setattr(sampling, "NOISE_BLOCK", 3 * split.n_items)  # a byte budget of three rows per noise batch
    assert (sample_eval_candidates(pos, users, targets, 15, random_state=4) == whole).all()
    # consecutive slices drawn from one generator: the draws of one call (what the Evaluator's blocks rely on)
    gen = np.random.default_rng(4)
    checked = sampling._check_eval_candidates(pos, users, targets, 15)
    parts = [sampling._draw_eval_candidates(checked[0], checked[1][s:s + 64], checked[2][s:s + 64], 15, gen)
             for s in range(0, len(users), 64)]
    assert (np.concatenate(parts) == whole).all()


def test_torch_sampler_matches_the_rules_on_any_device(split):
    import torch

    from course_utils.data.sampling import TorchUniformSampler

    positives = split.to_csr()
    users = torch.arange(positives.shape[0]).repeat(20)

    def draw(seed):
        sampler = TorchUniformSampler(positives, "cpu", torch.Generator().manual_seed(seed))
        return sampler.sample(users, 3)

    neg = draw(0)
    assert neg.shape == (len(users), 3) and neg.dtype == torch.int64
    u = users.repeat_interleave(3).numpy().copy()
    assert not np.asarray(positives[u, neg.flatten().numpy().copy()]).any()  # never a positive
    assert torch.equal(neg, draw(0)) and not torch.equal(neg, draw(1))
    dense = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]]))
    only = TorchUniformSampler(dense, "cpu", torch.Generator().manual_seed(0)).sample(torch.tensor([0, 1] * 50))
    assert only[0::2].eq(2).all() and only[1::2].eq(0).all()
    with pytest.raises(ValueError, match="no item left"):
        TorchUniformSampler(sp.csr_matrix(np.ones((2, 3))), "cpu", torch.Generator())


def test_torch_user_uniform_pairs_are_positives_and_users_weigh_the_same():
    import torch

    from course_utils.data.sampling import TorchUniformSampler

    # user 0 has 1 item, user 1 has 4 items, user 2 has none: users 0 and 1 are drawn equally often
    positives = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]]))
    users, items = TorchUniformSampler(positives, "cpu", torch.Generator().manual_seed(0)).sample_pairs(20_000)
    assert users.shape == items.shape == (20_000,)
    assert np.asarray(positives[users.numpy().copy(), items.numpy().copy()]).all()
    counts = torch.bincount(users, minlength=3).numpy()
    assert counts[2] == 0 and abs(counts[0] - counts[1]) < 600
    assert set(torch.bincount(items[users == 1], minlength=6).numpy()[1:5] // 1000) <= {2}  # ~2500 each
    with pytest.raises(ValueError, match="'n_pairs' parameter of sample_pairs must be an int >= 1"):
        TorchUniformSampler(positives, "cpu", torch.Generator()).sample_pairs(0)
