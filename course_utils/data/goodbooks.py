"""goodbooks-10k: the original course's book ratings (GitHub release v1.0)."""
from __future__ import annotations

import pandas as pd

from .datasets import DatasetError, fetch


def load_goodbooks(data_dir=None) -> pd.DataFrame:
    """Book ratings as a DataFrame with the columns user_id, item_id (the publisher's book_id), rating (1-5).

    user_id and item_id are int32, rating int16. The release has no timestamps (its rows are in time order). Both the
    release's column order (user_id, book_id, rating) and the older Kaggle file's (book_id, user_id, rating) are read
    by name. Parsed with pyarrow's multithreaded CSV reader.
    """
    import pyarrow as pa
    from pyarrow import csv

    folder = fetch("goodbooks-10k", ["goodbooks-10k/ratings.csv"], data_dir)
    path = folder / "goodbooks-10k/ratings.csv"
    types = {"user_id": pa.int32(), "book_id": pa.int32(), "rating": pa.int16()}
    try:
        table = csv.read_csv(path, read_options=csv.ReadOptions(block_size=1 << 20),
                             convert_options=csv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DatasetError(f"{path} is not the goodbooks-10k ratings file ({err}). It is corrupt or another version: "
                           f"delete it so that it is downloaded again.") from err
    missing = set(types) - set(table.column_names)
    if missing:
        raise DatasetError(f"{path} should have the columns user_id, book_id, rating; "
                           f"missing {sorted(missing)}. Got {table.column_names}.")
    table = table.select(["user_id", "book_id", "rating"]).rename_columns(["user_id", "item_id", "rating"])
    empty = {c: table.column(c).null_count for c in table.column_names if table.column(c).null_count}
    if empty:
        raise DatasetError(f"{path} has empty values (count per column: {empty}). It is corrupt: delete it so that "
                           f"it is downloaded again.")
    return table.to_pandas()


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
