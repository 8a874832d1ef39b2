"""MovieLens 100K, 1M, 10M, 20M and 32M: ratings and movie metadata, with the publisher's ids.

100K is read exactly as the course always read it (int64 columns). The larger sets are parsed with pyarrow's
multithreaded CSV reader straight into compact columns: int32 user_id/item_id, int64 timestamp, and the rating as
int16 (1M: whole stars; int16, not int8, so that arithmetic such as rating * 100 cannot overflow) or float32 (10M, 20M, 32M: half stars, 0.5-5).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._validation import check_choice
from .datasets import DatasetError, fetch

RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
_EXPECTED_ROWS = {"100k": 100_000, "1m": 1_000_209, "10m": 10_000_054, "20m": 20_000_263, "32m": 32_000_204}
SIZES = list(_EXPECTED_ROWS)

# size -> (registry name, ratings file, movies file); ".dat" files separate fields with "::", ".csv" files with ","
_FILES = {
    "1m": ("ml-1m", "ml-1m/ratings.dat", "ml-1m/movies.dat"),
    "10m": ("ml-10m", "ml-10M100K/ratings.dat", "ml-10M100K/movies.dat"),
    "20m": ("ml-20m", "ml-20m/ratings.csv", "ml-20m/movies.csv"),
    "32m": ("ml-32m", "ml-32m/ratings.csv", "ml-32m/movies.csv"),
}
_HALF_STARS = {"10m", "20m", "32m"}
_CSV_HEADER = ["userId", "movieId", "rating", "timestamp"]
_NO_GENRES = "(no genres listed)"  # 20M/32M's label for a movie without genres


def load_movielens(size: str = "100k", data_dir=None) -> pd.DataFrame:
    """MovieLens ratings as a DataFrame with the columns user_id, item_id, rating, timestamp (Unix seconds).

    size: "100k" (the course's default: 100,000 ratings, 943 users, 1,682 movies), "1m" (1,000,209 ratings),
    "10m" (10,000,054), "20m" (20,000,263) or "32m" (32,000,204). 100K has int64 columns; from 1M on the ids are
    int32, the rating int16 (1M, whole stars 1-5) or float32 (10M and up, half stars 0.5-5), the timestamp int64.
    data_dir: a folder to search and download into; by default COURSE_UTILS_DATA, then the project's data/ folder.
    """
    check_choice(size, "size", SIZES, "load_movielens")
    if size == "100k":
        folder = fetch("ml-100k", ["ml-100k/u.data"], data_dir)
        df = pd.read_csv(folder / "ml-100k/u.data", sep="\t", names=RATING_COLUMNS, dtype="int64")
    else:
        name, ratings, _ = _FILES[size]
        folder = fetch(name, [ratings], data_dir)
        df = read_ratings(folder / ratings, half_stars=size in _HALF_STARS)
    if len(df) != _EXPECTED_ROWS[size]:
        raise DatasetError(f"MovieLens {size} should have {_EXPECTED_ROWS[size]:,} ratings; the file in {folder} has "
                           f"{len(df):,}. It is truncated or another version: delete it so that it is downloaded again.")
    return df


def read_ratings(path: str | Path, half_stars: bool = True, dat: bool | None = None) -> pd.DataFrame:
    """Parse a MovieLens ratings file: "UserID::MovieID::Rating::Timestamp" (.dat, no header) or a .csv with the
    header userId,movieId,rating,timestamp (``dat``: which one; by default from the file's suffix).

    Returns user_id, item_id (int32), rating (float32 with ``half_stars``, else int16) and timestamp (int64).
    Vectorized (pyarrow, multithreaded); raises DatasetError on a bad file.
    """
    import pyarrow as pa
    from pyarrow import csv

    path = Path(path)
    dat = path.suffix == ".dat" if dat is None else dat
    rating_type = pa.float32() if half_stars else pa.int16()
    if dat:
        # splitting "1::122::5::838985046" on ':' gives 7 fields; the empty ones between the values are never converted
        names = ["user_id", "_1", "item_id", "_2", "rating", "_3", "timestamp"]
        read = csv.ReadOptions(column_names=names, block_size=1 << 20)
        parse = csv.ParseOptions(delimiter=":", quote_char=False)
        convert = csv.ConvertOptions(include_columns=RATING_COLUMNS, column_types={
            "user_id": pa.int32(), "item_id": pa.int32(), "rating": rating_type, "timestamp": pa.int64()})
    else:
        read = csv.ReadOptions(block_size=1 << 20)
        parse = csv.ParseOptions(delimiter=",")
        convert = csv.ConvertOptions(column_types={
            "userId": pa.int32(), "movieId": pa.int32(), "rating": rating_type, "timestamp": pa.int64()})
    try:
        table = csv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DatasetError(f"{path} is not a MovieLens ratings file in the publisher's format ({err}). It is corrupt or "
                           f"another version: delete it so that it is downloaded again.") from err
    if not dat:
        if table.column_names != _CSV_HEADER:
            raise DatasetError(f"{path} should have the header {','.join(_CSV_HEADER)}; got {','.join(table.column_names)}. "
                               f"It is another version of the file: delete it so that it is downloaded again.")
        table = table.rename_columns(RATING_COLUMNS)
    missing = {c: table.column(c).null_count for c in RATING_COLUMNS if table.column(c).null_count}
    if missing:
        raise DatasetError(f"{path} has empty values (count per column: {missing}). It is corrupt: delete it so that "
                           f"it is downloaded again.")
    return table.to_pandas(split_blocks=True, self_destruct=True)


def read_ratings_csv(path: str | Path, half_stars: bool = True) -> pd.DataFrame:
    """read_ratings for a CSV file in the layout of ML-20M/ML-32M's ratings.csv, whatever its name."""
    return read_ratings(path, half_stars=half_stars, dat=False)


def load_movielens_items(size: str = "100k", data_dir=None) -> pd.DataFrame:
    """Movie metadata: item_id, title, year, genres ("Action|Comedy", the publisher's genre names) and main_genre.

    main_genre is the first listed genre (MovieLens lists genres alphabetically, so it is a label for plots, not the
    movie's most important genre); "unknown" for a movie without genres. ML-100K also gives release_date.
    """
    check_choice(size, "size", SIZES, "load_movielens_items")
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
        items["main_genre"] = items["genres"].str.split("|").str[0].replace("", "unknown")
        return items

    name, _, movies = _FILES[size]
    folder = fetch(name, [movies], data_dir)
    path = folder / movies
    if path.suffix == ".dat":  # "MovieID::Title::Genres"; titles may contain ':' but never "::"
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:  # ML-1M is Latin-1
            text = data.decode("latin-1")
        rows = [line.split("::") for line in text.splitlines() if line]
        items = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    else:
        items = pd.read_csv(path, dtype={"movieId": "int64", "title": str, "genres": str}, keep_default_na=False)
        items = items.rename(columns={"movieId": "item_id"})[["item_id", "title", "genres"]]
    items["item_id"] = items["item_id"].astype("int32")
    items["year"] = pd.to_numeric(items["title"].str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype("Int64")
    items["main_genre"] = items["genres"].str.split("|").str[0].replace({"": "unknown", _NO_GENRES: "unknown"})
    return items
