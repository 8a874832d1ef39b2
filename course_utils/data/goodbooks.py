"""goodbooks-10k: the original course's book ratings (GitHub release v1.0)."""
from __future__ import annotations

import pandas as pd

from .datasets import DatasetError, fetch


def load_goodbooks(data_dir=None) -> pd.DataFrame:
    """Book ratings as a DataFrame with the columns user_id, item_id (the publisher's book_id), rating (1-5).

    The release has no timestamps (its rows are in time order). Both the release's column order
    (user_id, book_id, rating) and the older Kaggle file's (book_id, user_id, rating) are read by name.
    """
    folder = fetch("goodbooks-10k", ["goodbooks-10k/ratings.csv"], data_dir)
    df = pd.read_csv(folder / "goodbooks-10k/ratings.csv")
    missing = {"user_id", "book_id", "rating"} - set(df.columns)
    if missing:
        raise DatasetError(f"{folder / 'goodbooks-10k/ratings.csv'} should have the columns user_id, book_id, rating; "
                           f"missing {sorted(missing)}. Got {list(df.columns)}.")
    return df.rename(columns={"book_id": "item_id"})[["user_id", "item_id", "rating"]].astype("int64")


def load_goodbooks_books(data_dir=None) -> pd.DataFrame:
    """Book metadata: item_id (book_id), title, authors, year (original publication year), average_rating."""
    folder = fetch("goodbooks-10k", ["goodbooks-10k/books.csv"], data_dir)
    books = pd.read_csv(folder / "goodbooks-10k/books.csv")
    out = pd.DataFrame({"item_id": books["book_id"].astype("int64"), "title": books["title"].astype(str),
                        "authors": books["authors"].astype(str)})
    if "original_publication_year" in books:
        out["year"] = pd.to_numeric(books["original_publication_year"], errors="coerce").round().astype("Int64")
    if "average_rating" in books:
        out["average_rating"] = books["average_rating"].astype(float)
    return out
