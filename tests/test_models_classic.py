"""SurpriseRecommender: surprise's classic rating predictors on the course's shape."""
import numpy as np
import pytest

from course_utils import Evaluator, InteractionDataset, SurpriseRecommender


@pytest.fixture(scope="module")
def parts(synthetic_df):
    return InteractionDataset(synthetic_df).split(test_size=0.2, strategy="random", seed=0)


@pytest.mark.parametrize("algorithm", ["svd", "baseline", "knn"])
def test_fits_predicts_and_beats_the_mean(algorithm, parts):
    train, test = parts
    model = SurpriseRecommender(algorithm).fit(train.data)
    rmse = Evaluator(metrics=["rmse"]).evaluate(model, test, task="rating")["rmse"]
    assert rmse < float(np.sqrt(((test.data["rating"] - train.data["rating"].mean()) ** 2).mean()))
    user = train.data["user_id"].iloc[0]
    recs = model.recommend([user], k=3)[user]
    assert len(recs) == 3 and not {i for i, _ in recs} & set(train.data.loc[train.data.user_id == user, "item_id"])


def test_same_seed_same_svd(parts):
    train = parts[0]
    a = SurpriseRecommender("svd", random_state=1).fit(train.data).score_all([1])
    b = SurpriseRecommender("svd", random_state=1).fit(train.data).score_all([1])
    assert np.array_equal(a, b)


def test_bad_input_and_no_pickle(parts, tmp_path):
    with pytest.raises(ValueError, match="'algorithm' parameter of SurpriseRecommender must be one of"):
        SurpriseRecommender("nmf").fit(parts[0].data)
    with pytest.raises(TypeError, match="'params' parameter"):
        SurpriseRecommender("svd", params=[1]).fit(parts[0].data)
    with pytest.raises(NotImplementedError, match="pickle"):
        SurpriseRecommender("baseline").fit(parts[0].data).save(tmp_path / "m")
