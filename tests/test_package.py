"""The package's top level: the seed chapter's names, and no heavy work at import."""
import subprocess
import sys

import course_utils


def test_seed_names_are_importable_from_the_top_level():
    from course_utils import EASERecommender, Evaluator, InteractionDataset, PopularitySampler, UniformSampler, load_movielens  # noqa: F401

    for name in course_utils.__all__:
        assert getattr(course_utils, name) is not None, name


def test_import_is_light():
    code = "import sys, course_utils; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'NCF'"):
        course_utils.NCF  # noqa: B018
