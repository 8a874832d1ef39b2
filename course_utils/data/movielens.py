"""MovieLens 100K and 1M: ratings and movie metadata, with the publisher's ids."""
from __future__ import annotations

import pandas as pd

from .._validation import check_choice
from .datasets import DatasetError, fetch

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
_EXPECTED_ROWS = {"100k": 100_000, "1m": 1_000_209}


def load_movielens(size: str = "100k", data_dir=None) -> pd.DataFrame:
    """MovieLens ratings as a DataFrame with the columns user_id, item_id, rating (1-5), timestamp (Unix seconds).

    size: "100k" (the course's default: 100,000 ratings, 943 users, 1,682 movies) or "1m".
    data_dir: a folder to search and download into; by default COURSE_UTILS_DATA, then the project's data/ folder.
    """
    check_choice(size, "size", ["100k", "1m"], "load_movielens")
    if size == "100k":
        folder = fetch("ml-100k", ["ml-100k/u.data"], data_dir)
        df = pd.read_csv(folder / "ml-100k/u.data", sep="\t", names=RATING_COLUMNS, dtype="int64")
    else:
        folder = fetch("ml-1m", ["ml-1m/ratings.dat"], data_dir)
        # "UserID::MovieID::Rating::Timestamp": splitting on ':' leaves empty columns between the fields
        df = pd.read_csv(folder / "ml-1m/ratings.dat", sep=":", header=None, usecols=[0, 2, 4, 6], dtype="int64")
        df.columns = RATING_COLUMNS
    if len(df) != _EXPECTED_ROWS[size]:
        raise DatasetError(f"MovieLens {size} should have {_EXPECTED_ROWS[size]:,} ratings; the file in {folder} has "
                           f"{len(df):,}. It is truncated or another version: delete it so that it is downloaded again.")
    return df


def load_movielens_items(size: str = "100k", data_dir=None) -> pd.DataFrame:
    """Movie metadata: item_id, title, year, genres ("Action|Comedy", the publisher's genre names) and main_genre.

    main_genre is the first listed genre (MovieLens lists genres alphabetically, so it is a label for plots, not the
    movie's most important genre). ML-100K also gives release_date.
    """
    check_choice(size, "size", ["100k", "1m"], "load_movielens_items")
    if size == "100k":
        folder = fetch("ml-100k", ["ml-100k/u.item", "ml-100k/u.genre"], data_dir)
        genres = pd.read_csv(folder / "ml-100k/u.genre", sep="|", names=["genre", "index"], encoding="latin-1").dropna()
        genre_names = genres.sort_values("index")["genre"].tolist()
        cols = ["item_id", "title", "release_date", "video_release_date", "imdb_url"] + genre_names
        raw = pd.read_csv(folder / "ml-100k/u.item", sep="|", names=cols, encoding="latin-1")
        flags = raw[genre_names].to_numpy(dtype=bool)
        items = pd.DataFrame({
            "item_id": raw["item_id"].astype("int64"),
            "title": raw["title"].astype(str),
            "release_date": pd.to_datetime(raw["release_date"], format="%d-%b-%Y", errors="coerce"),
            "genres": ["|".join(g for g, on in zip(genre_names, row, strict=True) if on) for row in flags],
        })
        items["year"] = items["release_date"].dt.year.astype("Int64")
    else:
        folder = fetch("ml-1m", ["ml-1m/movies.dat"], data_dir)
        lines = (folder / "ml-1m/movies.dat").read_text(encoding="latin-1").splitlines()
        rows = [line.split("::") for line in lines if line]
        items = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
        items["item_id"] = items["item_id"].astype("int64")
        items["year"] = pd.to_numeric(items["title"].str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype("Int64")
    items["main_genre"] = items["genres"].str.split("|").str[0].replace("", "unknown")
    return items
