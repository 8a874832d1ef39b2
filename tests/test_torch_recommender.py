"""TorchRecommender and SequenceRecommender: the module slot (a learner's own nn.Module trains, evaluates, saves and
loads through every torch recommender), seeding (random_state int vs None), and the shared validation hook."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import (BERT4RecRecommender, BPRMFRecommender, EmbeddingMLPRecommender, InteractionDataset,
                          LightGCNRecommender, LSTMAttentionRecommender, LSTMRecommender, NCFRecommender,
                          SASRecRecommender)
from course_utils.models.ncf import GMF, MLP


# ---------------------------------------------------------------- modules a learner could write, one per contract
class MyMF(nn.Module):  # BPR-MF: user, item embeddings; forward -> (B,)
    def __init__(self, n_users, n_items, dim):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)

    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)


class MyGMF(nn.Module):  # NCF, model="gmf"
    def __init__(self, n_users, n_items, dim):
        super().__init__()
        self.p, self.q, self.h = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim), nn.Linear(dim, 1)

    def forward(self, users, items):
        return self.h(self.p(users) * self.q(items)).squeeze(-1)


class MyNeuMF(nn.Module):  # NCF, model="neumf" with pre-training: the course's towers are handed to load_pretrained
    def __init__(self, n_users, n_items, dim, hidden, dropout):
        super().__init__()
        self.gmf, self.mlp = GMF(n_users, n_items, dim), MLP(n_users, n_items, hidden, dropout)
        self.head = nn.Linear(dim + hidden[-1], 1)
        self.pretrained = None

    def forward(self, users, items):
        return self.head(torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], -1)).squeeze(-1)

    def load_pretrained(self, gmf, mlp, alpha=0.5):
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        self.pretrained = (type(gmf), type(mlp))
        return self


class MyLightGCN(nn.Module):  # LightGCN: E^(0), set_graph, propagate with torch's own sparse product
    def __init__(self, n_users, n_items, dim, n_layers):
        super().__init__()
        self.n_users, self.n_layers = n_users, n_layers
        self.embedding = nn.Embedding(n_users + n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)

    def set_graph(self, adjacency):
        self.adjacency = adjacency

    def propagate(self):
        layers = [self.embedding.weight]
        for _ in range(self.n_layers):
            layers.append(self.adjacency @ layers[-1])
        final = torch.stack(layers).mean(0)
        return final[:self.n_users], final[self.n_users:]


class MyEncoder(nn.Module):  # every sequence model: a GRU reads the items; tied item table for the scores
    def __init__(self, n_items, dim, **unused):
        super().__init__()
        self.item = nn.Embedding(n_items + 2, dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True)

    def encode(self, seqs):
        return self.gru(self.item(seqs))[0]  # (B, T, dim)

    def item_scores(self, h):
        return h @ self.item.weight[1:-1].T

    def pair_scores(self, h, items):
        return (h * self.item(items)).sum(-1)


class MyRatingMLP(nn.Module):  # the embedding MLP for ratings, ids 1-based
    def __init__(self, n_users, n_items, dim, hidden, init):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users + 1, dim), nn.Embedding(n_items + 1, dim)
        self.out = nn.Linear(2 * dim, 1)

    def forward(self, users, items):
        return self.out(torch.cat([self.user(users), self.item(items)], -1)).squeeze(-1) + 3.5


CASES = {
    "bprmf": (BPRMFRecommender, MyMF, {}),
    "ncf-gmf": (NCFRecommender, MyGMF, {"model": "gmf"}),
    "ncf-neumf": (NCFRecommender, MyNeuMF, {"epochs": 1}),
    "lightgcn": (LightGCNRecommender, MyLightGCN, {"embedding_dim": 16}),
    "sasrec-bce": (SASRecRecommender, MyEncoder, {"embedding_dim": 16, "loss": "bce", "max_seq_length": 10}),
    "lstm": (LSTMRecommender, MyEncoder, {"embedding_dim": 16, "max_seq_length": 10}),
    "lstm-mha": (LSTMAttentionRecommender, MyEncoder, {"embedding_dim": 16, "max_seq_length": 10}),
    "bert4rec": (BERT4RecRecommender, MyEncoder, {"embedding_dim": 16, "max_seq_length": 10}),
    "embedding-mlp": (EmbeddingMLPRecommender, MyRatingMLP, {}),
}


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df).split(test_size=0.2, strategy="user_random", seed=1)


@pytest.mark.parametrize("name", list(CASES))
def test_a_learners_module_trains_validates_saves_and_loads_through_the_recommender(name, parts, tmp_path):
    cls, module, kwargs = CASES[name]
    train, val = parts
    model = cls(module=module, epochs=kwargs.pop("epochs", 2), device="cpu", verbose=False, **kwargs)
    model.fit(train.data, val_data=val.data)
    assert type(model.module_) is module and model.get_params()["module"] is module
    assert len(model.history_) == model.epochs and (np.isfinite(model.history_.train_loss)).all()
    assert ("rmse" if cls.task == "rating" else "ndcg@10") in model.history_.to_frame()
    if module is MyNeuMF:
        assert model.module_.pretrained  # pre-training handed the towers to the learner's load_pretrained
    users = train.data["user_id"].unique()[:5].tolist()
    path = model.save(tmp_path / "model.pt")
    loaded = cls(module=module, device="cpu").load(path)
    assert type(loaded.module_) is module
    np.testing.assert_array_equal(loaded.score_all(users), model.score_all(users))
    assert loaded.recommend(users, k=5) == model.recommend(users, k=5)
    with pytest.raises(ValueError, match=f"was trained with module=.*{module.__qualname__}.*module=None"):
        cls(device="cpu").load(path)  # the course's module cannot hold the learner's weights: said, not guessed


class MyTowerGMF(GMF):
    """A learner's GMF tower (the course's, renamed): pre-trained, then handed to NeuMF's load_pretrained."""


def test_ncf_takes_a_module_per_tower(parts):
    model = NCFRecommender(module={"gmf": MyTowerGMF, "neumf": MyNeuMF}, epochs=1, device="cpu", verbose=False)
    model.fit(parts[0].data)
    assert type(model.module_) is MyNeuMF and model.module_.pretrained == (MyTowerGMF, MLP)
    assert set(model.pretrain_history_) == {"gmf", "mlp"}
    with pytest.raises(TypeError, match="maps 'gmf', 'mlp' and/or 'neumf'"):
        NCFRecommender(module={"towers": MyGMF}).fit(parts[0].data)


@pytest.mark.parametrize("module, match", [
    ("MyGMF", "'module' parameter of NCFRecommender must be None .* or an nn.Module class"),
    (lambda n_users, n_items, dim: "not a module", "must build a torch.nn.Module; .* returned str"),
    (lambda n_users, n_items, width: nn.Linear(1, 1),
     "builds its GMF module as .*\\(n_users=..., n_items=..., dim=...\\), the course's module contract .* missing .*'width'"),
], ids=["a string", "returns no module", "wrong constructor"])
def test_a_wrong_module_is_named_with_the_contract(parts, module, match):
    with pytest.raises((TypeError, ValueError), match=match):
        NCFRecommender(model="gmf", module=module, epochs=1, device="cpu", verbose=False).fit(parts[0].data)


def test_random_state_seeds_fit_and_none_does_not(parts):
    train = parts[0].data
    users = train["user_id"].unique()[:5].tolist()

    def scores(random_state):
        model = BPRMFRecommender(epochs=1, device="cpu", verbose=False, random_state=random_state).fit(train)
        return model.score_all(users)

    torch.manual_seed(0)
    outside = torch.rand(3)
    torch.manual_seed(0)
    np.testing.assert_array_equal(scores(7), scores(7))
    assert torch.equal(torch.rand(3), outside)  # a seeded fit leaves the caller's random state alone
    assert not np.array_equal(scores(7), scores(8))
    assert not np.array_equal(scores(None), scores(None))  # None: not seeded, a fresh model each time


@pytest.mark.parametrize("value", [-1, 1.5, "42", True])
def test_random_state_is_validated(parts, value):
    with pytest.raises(ValueError, match=f"'random_state' parameter of SASRecRecommender must be None .* or an int >= 0. Got {value!r}"):
        SASRecRecommender(random_state=value).fit(parts[0].data)


def test_training_state_lives_only_as_long_as_fit(parts):
    model = LightGCNRecommender(epochs=1, device="cpu", verbose=False).fit(parts[0].data)
    private = {k for k in vars(model) if k.startswith("_")}
    assert private <= {"_embeddings"}, private  # no samplers, generators or training arrays kept on the model


class RatingMLPOwnLayers(nn.Module):  # chapter 1's exercise class: it fixes its layers, so it takes no hidden= or init=
    def __init__(self, n_users, n_items, dim=5):
        super().__init__()
        self.user, self.item = nn.Embedding(n_users + 1, dim), nn.Embedding(n_items + 1, dim)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, users, items):
        return self.mlp(torch.cat([self.user(users), self.item(items)], dim=-1)).squeeze(-1)


def test_a_module_gets_only_the_contract_keywords_it_takes(parts):
    model = EmbeddingMLPRecommender(module=RatingMLPOwnLayers, epochs=1, device="cpu", verbose=False)
    assert model.fit(parts[0].data).module_.user.embedding_dim == 5


def test_a_module_instance_is_refused_with_what_to_pass_instead(parts):
    with pytest.raises(TypeError, match="not a module instance: pass MyMF, not MyMF\\(...\\)"):
        BPRMFRecommender(module=MyMF(3, 3, 2)).fit(parts[0].data)


class NoLoadPretrained(nn.Module):
    def __init__(self, n_users, n_items, dim, hidden, dropout):
        super().__init__()
        self.gmf = GMF(n_users, n_items, dim)

    def forward(self, users, items):
        return self.gmf(users, items)


class ForgetsReturnSelf(MyNeuMF):
    def load_pretrained(self, gmf, mlp, alpha=0.5):
        super().load_pretrained(gmf, mlp, alpha)


@pytest.mark.parametrize("module, error, match", [
    ({"gmf": MyTowerGMF}, ValueError, "names \\['gmf'\\], which a fit with model='neumf' and pretrain=False never builds"),
    (NoLoadPretrained, TypeError, "load_pretrained\\(gmf, mlp, alpha\\) method; .*NoLoadPretrained has none"),
    (ForgetsReturnSelf, TypeError, "load_pretrained must return the module itself \\(return self\\)"),
], ids=["unused tower", "no load_pretrained", "no return self"])
def test_ncf_module_contract_errors(parts, module, error, match):
    pretrain = not isinstance(module, dict)
    with pytest.raises(error, match=match):
        NCFRecommender(module=module, pretrain=pretrain, epochs=1, device="cpu", verbose=False).fit(parts[0].data)


def test_numpy_integer_seeds_and_an_interrupted_fit_leaves_the_module_in_eval_mode(parts):
    a = BPRMFRecommender(epochs=1, device="cpu", verbose=False, random_state=np.int64(3)).fit(parts[0].data)
    b = BPRMFRecommender(epochs=1, device="cpu", verbose=False, random_state=3).fit(parts[0].data)
    users = parts[0].data["user_id"].unique()[:3].tolist()
    np.testing.assert_array_equal(a.score_all(users), b.score_all(users))

    def interrupt(epoch, train_loss, val_metrics):
        raise KeyboardInterrupt

    model = NCFRecommender(model="mlp", epochs=3, device="cpu", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        model.fit(parts[0].data, callbacks=[interrupt])
    assert not model.module_.training  # dropout is off when the half-trained model scores
