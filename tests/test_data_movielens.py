"""MovieLens on the real files (CI: COURSE_UTILS_DATA=../shared/data). The loaders' parsing on files the tests
write in the publisher's format is covered in test_data_datasets.py."""
import hashlib

import pandas as pd
import pytest

from course_utils.data.movielens import load_movielens, load_movielens_items

pytestmark = pytest.mark.real_data


def test_ml100k_sizes(ml100k):
    assert list(ml100k.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(ml100k) == 100_000
    assert ml100k["user_id"].nunique() == 943 and ml100k["item_id"].nunique() == 1_682
    assert sorted(ml100k["rating"].unique()) == [1, 2, 3, 4, 5]
    assert ml100k.groupby("user_id").size().min() == 20  # every user rated at least 20 movies
    assert (ml100k.dtypes == "int64").all()


def test_ml100k_frame_is_unchanged(ml100k):
    # the notebooks depend on this frame byte for byte: values, dtypes, column order and index (hash taken before the
    # loaders of the larger sets were added)
    digest = hashlib.sha256(pd.util.hash_pandas_object(ml100k, index=True).to_numpy().tobytes()
                            + str(list(ml100k.dtypes)).encode() + str(list(ml100k.columns)).encode()).hexdigest()
    assert digest == "55680379696ff197d615ccd08b41e040b0126dcbc3431b278e40e4f635118fca"


def test_ml100k_items(real_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_DATA", str(real_data_dir))
    items = load_movielens_items("100k")
    assert len(items) == 1_682 and items["item_id"].is_unique
    toy_story = items.set_index("item_id").loc[1]
    assert toy_story["title"] == "Toy Story (1995)" and toy_story["genres"] == "Animation|Children's|Comedy"
    assert toy_story["year"] == 1995 and toy_story["main_genre"] == "Animation"
    assert items["main_genre"].nunique() >= 15


def test_size_is_validated():
    with pytest.raises(ValueError, match=r"'size' parameter of load_movielens must be one of \['100k', '1m', '10m', '20m', "
                                         r"'32m'\]. Got '25m'"):
        load_movielens("25m")
    with pytest.raises(ValueError, match="'size' parameter of load_movielens_items must be one of"):
        load_movielens_items("100K")
