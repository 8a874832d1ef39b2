"""Argument checks shared by the whole package.

Every message names the argument, the rule and the value received, in scikit-learn's words:
"The 'k' parameter of recommend must be an int >= 1. Got 0 instead."
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd


def _where(func: str | None) -> str:
    return f" of {func}" if func else ""


def check_int(value, name: str, func: str | None = None, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """An int (numpy ints too, never bool) within [min_value, max_value]."""
    rule = "an int"
    if min_value is not None and max_value is not None:
        rule = f"an int in [{min_value}, {max_value}]"
    elif min_value is not None:
        rule = f"an int >= {min_value}"
    elif max_value is not None:
        rule = f"an int <= {max_value}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The '{name}' parameter{_where(func)} must be {rule}. Got {value!r} of type {type(value).__name__} instead.")
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        raise ValueError(f"The '{name}' parameter{_where(func)} must be {rule}. Got {value!r} instead.")
    return int(value)


def check_fraction(value, name: str, func: str | None = None, *, allow_none: bool = False) -> float | None:
    """A float strictly between 0 and 1."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The '{name}' parameter{_where(func)} must be a float in (0, 1). Got {value!r} of type {type(value).__name__} instead.")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"The '{name}' parameter{_where(func)} must be a float in (0, 1). Got {value!r} instead.")
    return float(value)


def check_positive(value, name: str, func: str | None = None, *, strict: bool = True) -> float:
    """A finite real number > 0 (or >= 0 when strict=False)."""
    rule = "a float > 0" if strict else "a float >= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"The '{name}' parameter{_where(func)} must be {rule}. Got {value!r} of type {type(value).__name__} instead.")
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        raise ValueError(f"The '{name}' parameter{_where(func)} must be {rule}. Got {value!r} instead.")
    return float(value)


def check_choice(value, name: str, choices: Iterable, func: str | None = None):
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"The '{name}' parameter{_where(func)} must be one of {choices}. Got {value!r} instead.")
    return value


def check_layers(value, name: str, func: str | None = None, *, even_first: bool = False) -> list[int]:
    """A non-empty list/tuple of ints >= 1 (layer widths); with even_first, the first must be even."""
    ok = (isinstance(value, (list, tuple)) and len(value) > 0
          and all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1 for h in value))
    if not ok or (even_first and value[0] % 2):
        rule = "a non-empty list of ints >= 1" + (" whose first value is even (it is split between the user and the item embedding)" if even_first else "")
        raise ValueError(f"The '{name}' parameter{_where(func)} must be {rule}. Got {value!r} instead.")
    return [int(h) for h in value]


def check_dataframe(df, name: str, required: Iterable[str], func: str | None = None, *, no_nan: Iterable[str] | None = None) -> pd.DataFrame:
    """A non-empty DataFrame that has the required columns and no NaN in them."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"The '{name}' parameter{_where(func)} must be a pandas DataFrame. Got {type(df).__name__} instead.")
    required = list(required)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"The '{name}' parameter{_where(func)} must have the columns {required}; missing {missing}. "
                         f"Got columns {list(df.columns)}.")
    if len(df) == 0:
        raise ValueError(f"The '{name}' parameter{_where(func)} must have at least one row. Got an empty DataFrame.")
    for col in (required if no_nan is None else no_nan):
        n_nan = int(df[col].isna().sum())
        if n_nan:
            first = df.index[df[col].isna()][0]
            raise ValueError(f"The '{name}' parameter{_where(func)} must have no missing values in column '{col}'. "
                             f"Got {n_nan} NaN value(s), the first at index {first!r}.")
    return df


def check_seed(value, name: str = "random_state", func: str | None = None) -> int | None:
    """A model's random_state: an int >= 0 seeds every random draw of fit; None means not seeded (fresh randomness)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"The '{name}' parameter{_where(func)} must be None (not seeded) or an int >= 0. Got {value!r} instead.")
    return int(value)


def check_random_state(seed) -> np.random.Generator:
    """None, an int seed or a numpy Generator -> a numpy Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"The 'random_state' parameter must be None, an int >= 0 or a numpy Generator. Got {seed!r} instead.")
    return np.random.default_rng(int(seed))


def as_id_list(users, name: str = "users", func: str | None = None) -> list:
    """A learner's users/items argument (one id, a list, an array, a Series) -> a list of ids."""
    if isinstance(users, (str, bytes)) or np.isscalar(users):
        return [users]
    if isinstance(users, (pd.Series, pd.Index, np.ndarray)):
        users = users.tolist()
    if not isinstance(users, (list, tuple, range)):
        raise TypeError(f"The '{name}' parameter{_where(func)} must be an id or a list/array of ids. Got {type(users).__name__} instead.")
    users = list(users)
    if not users:
        raise ValueError(f"The '{name}' parameter{_where(func)} must name at least one id. Got an empty {type(users).__name__}.")
    for u in users:
        if u is None or (isinstance(u, float) and np.isnan(u)):
            raise ValueError(f"The '{name}' parameter{_where(func)} must not contain missing ids. Got {u!r}.")
    return users
