"""The registry and fetch(): lookup order, downloads from a local server, checksums, cut-off transfers, offline."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from course_utils.data import datasets, movielens
from course_utils.data.datasets import REGISTRY, DatasetError, fetch
from conftest import ROOT

U_DATA = "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n3\t30\t1\t881250952\n"
U_ITEM = ("10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
          "20|GoldenEye (1995)|01-Jan-1995||http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
          "30|Four Rooms (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n")
U_GENRE = "".join(f"{g}|{i}\n" for i, g in enumerate(
    ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
     "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"])) + "\n"


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("utf-8"))
    return buf.getvalue()


def _sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


@pytest.fixture
def fake_ml100k(http_server, monkeypatch):
    """ML-100K's registry entry pointed at a small archive in the publisher's layout, served on 127.0.0.1."""
    members = {"ml-100k/u.data": U_DATA, "ml-100k/u.item": U_ITEM, "ml-100k/u.genre": U_GENRE, "ml-100k/README": "readme",
               "ml-100k/u.user": "1|24|M|technician|85711\n", "ml-100k/u.occupation": "technician\n", "ml-100k/u.info": "4 users\n"}
    archive = _zip(members)
    http_server.files["/ml-100k.zip"] = archive
    spec = REGISTRY["ml-100k"]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/ml-100k.zip", known_hash=f"sha256:{_sha(archive)}")
    fake = dataclasses.replace(spec, sources=(source,), sha256={k: _sha(v) for k, v in members.items()})
    monkeypatch.setitem(REGISTRY, "ml-100k", fake)
    monkeypatch.setitem(movielens._EXPECTED_ROWS, "100k", 4)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    return http_server


def _leftovers(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_registry_entries_are_complete():
    for name, spec in REGISTRY.items():
        assert spec.title and spec.homepage.startswith("https://") and spec.license and spec.citation, name
        for source in spec.sources:
            assert source.url.startswith("https://"), name
            algo, _, digest = source.known_hash.partition(":")
            assert algo in ("md5", "sha256") and len(digest) == {"md5": 32, "sha256": 64}[algo], name
        assert set(spec.sha256) <= set(spec.files), name


def test_data_readme_lists_every_dataset_and_url():
    text = (ROOT / "data" / "README.md").read_text()
    for spec in REGISTRY.values():
        assert all(s.url in text for s in spec.sources) or spec.homepage in text, spec.name
        assert all(f in text for f in spec.files if not f.endswith(("README", "README.html", "README.txt", "u.user", "u.occupation", "u.info", "users.dat"))), spec.name
    assert "COURSE_UTILS_DATA" in text


def test_download_extracts_verifies_and_loads(fake_ml100k, tmp_path):
    df = movielens.load_movielens("100k", data_dir=tmp_path)
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert df.shape == (4, 4) and df["rating"].tolist() == [5, 3, 4, 1]
    items = movielens.load_movielens_items("100k", data_dir=tmp_path)
    assert items.loc[items.item_id == 10, "genres"].item() == "Animation|Children's|Comedy"
    assert items.loc[items.item_id == 20, "main_genre"].item() == "Action"
    assert "ml-100k.zip" not in " ".join(_leftovers(tmp_path))  # the archive and the staging folder are gone
    assert [p for p in _leftovers(tmp_path) if p.startswith(".")] == []
    n_requests = len(fake_ml100k.requests)
    movielens.load_movielens("100k", data_dir=tmp_path)  # second call: from disk, no request
    assert len(fake_ml100k.requests) == n_requests


def test_wrong_checksum_leaves_nothing_behind(fake_ml100k, tmp_path, monkeypatch):
    spec = REGISTRY["ml-100k"]
    bad = dataclasses.replace(spec.sources[0], known_hash="sha256:" + "0" * 64)
    monkeypatch.setitem(REGISTRY, "ml-100k", dataclasses.replace(spec, sources=(bad,)))
    with pytest.raises(DatasetError, match="checksum") as err:
        movielens.load_movielens("100k", data_dir=tmp_path)
    assert bad.url in str(err.value) and "by hand" in str(err.value) and "ml-100k/u.data" in str(err.value)
    assert _leftovers(tmp_path) == []


def test_transfer_cut_off_halfway_leaves_nothing_behind(fake_ml100k, tmp_path):
    fake_ml100k.cut.add("/ml-100k.zip")
    with pytest.raises(DatasetError, match="MovieLens 100K"):
        movielens.load_movielens("100k", data_dir=tmp_path)
    assert _leftovers(tmp_path) == []


def test_offline_error_names_dataset_url_and_folder(monkeypatch, tmp_path):
    spec = REGISTRY["ml-100k"]
    dead = dataclasses.replace(spec.sources[0], url="http://127.0.0.1:9/ml-100k.zip")  # port 9: nothing listens
    monkeypatch.setitem(REGISTRY, "ml-100k", dataclasses.replace(spec, sources=(dead,)))
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    with pytest.raises(DatasetError) as err:
        fetch("ml-100k", ["ml-100k/u.data"], tmp_path)
    message = str(err.value)
    assert "MovieLens 100K" in message and dead.url in message and str(tmp_path) in message and "COURSE_UTILS_DATA" in message
    assert _leftovers(tmp_path) == []


def test_env_folder_comes_first_and_is_never_written(fake_ml100k, tmp_path, monkeypatch):
    env = tmp_path / "env"
    (env / "ml-100k").mkdir(parents=True)
    (env / "ml-100k" / "u.data").write_text(U_DATA)
    monkeypatch.setenv(datasets.ENV_VAR, str(env))
    monkeypatch.setattr(datasets, "project_data_dir", lambda: tmp_path / "project")
    assert fetch("ml-100k", ["ml-100k/u.data"]) == env
    assert fake_ml100k.requests == []
    # a file the env folder lacks is downloaded into the project folder, not into the env folder
    assert fetch("ml-100k", ["ml-100k/u.item"]) == tmp_path / "project"
    assert _leftovers(env) == ["ml-100k", "ml-100k/u.data"]


def test_corrupt_file_in_env_folder_is_an_error_and_kept(fake_ml100k, tmp_path, monkeypatch):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text(U_DATA[:-10])  # truncated
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    with pytest.raises(DatasetError, match="does not match the publisher's file"):
        movielens.load_movielens("100k")
    assert (tmp_path / "ml-100k" / "u.data").exists()


def test_corrupt_file_in_download_folder_is_replaced(fake_ml100k, tmp_path):
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.data").write_text("garbage")
    df = movielens.load_movielens("100k", data_dir=tmp_path)
    assert len(df) == 4 and len(fake_ml100k.requests) == 1


def test_env_var_must_name_a_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="COURSE_UTILS_DATA"):
        fetch("ml-100k", ["ml-100k/u.data"])


def test_fetch_rejects_unknown_names():
    with pytest.raises(KeyError, match="'name' parameter of fetch"):
        fetch("ml-25m")
    with pytest.raises(KeyError, match="'paths' parameter"):
        fetch("ml-100k", ["ml-100k/u.nothing"])


def test_movielens_1m_in_publisher_format(http_server, monkeypatch, tmp_path):
    ratings = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
    movies = "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
    archive = _zip({"ml-1m/ratings.dat": ratings, "ml-1m/movies.dat": movies, "ml-1m/users.dat": "1::F::1::10::48067\n",
                    "ml-1m/README": "readme"})
    http_server.files["/ml-1m.zip"] = archive
    spec = REGISTRY["ml-1m"]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/ml-1m.zip", known_hash=f"sha256:{_sha(archive)}")
    monkeypatch.setitem(REGISTRY, "ml-1m", dataclasses.replace(spec, sources=(source,)))
    monkeypatch.setitem(movielens._EXPECTED_ROWS, "1m", 3)
    df = movielens.load_movielens("1m", data_dir=tmp_path)
    assert df.values.tolist() == [[1, 1193, 5, 978300760], [1, 661, 3, 978302109], [2, 1193, 4, 978298413]]
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(map(str, df.dtypes)) == ["int32", "int32", "int16", "int64"]
    items = movielens.load_movielens_items("1m", data_dir=tmp_path)
    assert items.set_index("item_id").loc[661, "year"] == 1996 and items.set_index("item_id").loc[661, "main_genre"] == "Animation"


def test_truncated_ratings_file_is_reported(http_server, monkeypatch, tmp_path):
    archive = _zip({"ml-1m/ratings.dat": "1::1193::5::978300760\n", "ml-1m/movies.dat": "", "ml-1m/users.dat": "",
                    "ml-1m/README": ""})
    http_server.files["/ml-1m.zip"] = archive
    spec = REGISTRY["ml-1m"]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/ml-1m.zip", known_hash=f"sha256:{_sha(archive)}")
    monkeypatch.setitem(REGISTRY, "ml-1m", dataclasses.replace(spec, sources=(source,)))
    with pytest.raises(DatasetError, match="1,000,209"):
        movielens.load_movielens("1m", data_dir=tmp_path)


def test_goodbooks_without_a_needed_column_is_reported(http_server, monkeypatch, tmp_path):
    from course_utils.data.goodbooks import load_goodbooks

    archive = _zip({"ratings.csv": "user_id,rating\n1,5\n", "books.csv": "book_id,title,authors\n"})
    http_server.files["/goodbooks-10k.zip"] = archive
    spec = REGISTRY["goodbooks-10k"]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/goodbooks-10k.zip", known_hash=f"sha256:{_sha(archive)}")
    monkeypatch.setitem(REGISTRY, "goodbooks-10k", dataclasses.replace(spec, sources=(source,)))
    with pytest.raises(DatasetError, match=r"missing \['book_id'\]"):
        load_goodbooks(data_dir=tmp_path)


@pytest.mark.parametrize("header", ["user_id,book_id,rating", "book_id,user_id,rating"])
def test_goodbooks_in_publisher_format(http_server, monkeypatch, tmp_path, header):
    from course_utils.data.goodbooks import load_goodbooks, load_goodbooks_books

    rows = {"user_id,book_id,rating": "1,258,5\n2,4081,4\n2,260,5\n", "book_id,user_id,rating": "258,1,5\n4081,2,4\n260,2,5\n"}
    books = ("book_id,goodreads_book_id,authors,original_publication_year,title,average_rating\n"
             "258,1,Carlos Ruiz Zafón,2001.0,The Shadow of the Wind,4.24\n")
    archive = _zip({"ratings.csv": header + "\n" + rows[header], "books.csv": books, "to_read.csv": "user_id,book_id\n"})
    http_server.files["/goodbooks-10k.zip"] = archive
    spec = REGISTRY["goodbooks-10k"]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/goodbooks-10k.zip", known_hash=f"sha256:{_sha(archive)}")
    monkeypatch.setitem(REGISTRY, "goodbooks-10k", dataclasses.replace(spec, sources=(source,)))
    df = load_goodbooks(data_dir=tmp_path)
    assert list(df.columns) == ["user_id", "item_id", "rating"]
    assert df.values.tolist() == [[1, 258, 5], [2, 4081, 4], [2, 260, 5]]
    assert list(map(str, df.dtypes)) == ["int32", "int32", "int16"]
    meta = load_goodbooks_books(data_dir=tmp_path)
    assert meta.iloc[0].to_dict() == {"item_id": 258, "title": "The Shadow of the Wind", "authors": "Carlos Ruiz Zafón",
                                    "year": 2001, "average_rating": 4.24}


# MovieLens 10M, 20M and 32M: small archives in the publisher's layout (ml-10M100K/ with "::" files; ml-20m/ and ml-32m/
# with CSV files), written to a temporary folder and served on 127.0.0.1.
ML10M_RATINGS = "1::122::5::838985046\n1::185::4.5::838983525\n2::231::0.5::838983392\n3::122::3::1230000000\n"
ML10M_MOVIES = ("122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action|Crime|Thriller\n"
                "231::Dumb & Dumber (1994)::Comedy\n")
ML_CSV_RATINGS = ("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n2,32,0.5,1112484819\n"
                  "3,2,5.0,1112484727\n")
ML_CSV_MOVIES = ("movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n"
                 '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama|Fantasy|Mystery|Sci-Fi\n'
                 "32,Twelve Monkeys (a.k.a. 12 Monkeys) (1995),(no genres listed)\n")
LARGE_MOVIELENS = {
    "10m": ("ml-10m", {"ml-10M100K/ratings.dat": ML10M_RATINGS, "ml-10M100K/movies.dat": ML10M_MOVIES,
                       "ml-10M100K/tags.dat": "15::4973::excellent!::1215184630\n", "ml-10M100K/README.html": "<html/>"}),
    "20m": ("ml-20m", {"ml-20m/ratings.csv": ML_CSV_RATINGS, "ml-20m/movies.csv": ML_CSV_MOVIES,
                       "ml-20m/links.csv": "movieId,imdbId,tmdbId\n", "ml-20m/README.txt": "readme"}),
    "32m": ("ml-32m", {"ml-32m/ratings.csv": ML_CSV_RATINGS, "ml-32m/movies.csv": ML_CSV_MOVIES,
                       "ml-32m/checksums.txt": "", "ml-32m/README.txt": "readme"}),
}
EXPECTED_RATINGS = {
    "10m": [[1, 122, 5.0, 838985046], [1, 185, 4.5, 838983525], [2, 231, 0.5, 838983392], [3, 122, 3.0, 1230000000]],
    "20m": [[1, 2, 3.5, 1112486027], [1, 29, 3.5, 1112484676], [2, 32, 0.5, 1112484819], [3, 2, 5.0, 1112484727]],
}
EXPECTED_RATINGS["32m"] = EXPECTED_RATINGS["20m"]


def _serve_movielens(http_server, monkeypatch, tmp_path, size, members=None, rows=4):
    """Write the archive to a temporary folder, serve it, point the registry entry at it (the real hash cannot match a
    fake archive: the entry gets the fake archive's sha256) and expect `rows` ratings. Returns the archive's bytes."""
    name, default_members = LARGE_MOVIELENS[size]
    archive_path = tmp_path / "publisher" / f"{name}.zip"
    archive_path.parent.mkdir()
    archive_path.write_bytes(_zip(members or default_members))
    archive = archive_path.read_bytes()
    http_server.files[f"/{name}.zip"] = archive
    spec = REGISTRY[name]
    source = dataclasses.replace(spec.sources[0], url=f"{http_server.url}/{name}.zip", known_hash=f"sha256:{_sha(archive)}")
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(spec, sources=(source,)))
    if rows is not None:
        monkeypatch.setitem(movielens._EXPECTED_ROWS, size, rows)
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    return archive


def test_large_movielens_are_registered_with_the_publishers_layout():
    for size, folder in [("10m", "ml-10M100K"), ("20m", "ml-20m"), ("32m", "ml-32m")]:
        name, ratings, movies = movielens._FILES[size]
        spec = REGISTRY[name]
        assert spec.sources[0].url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert ratings.startswith(folder + "/") and movies.startswith(folder + "/")
        assert {ratings, movies} <= set(spec.files)
    assert movielens._EXPECTED_ROWS == {"100k": 100_000, "1m": 1_000_209, "10m": 10_000_054, "20m": 20_000_263,
                                        "32m": 32_000_204}
    # the publisher's checksums (their sources are cited in datasets.py)
    assert REGISTRY["ml-10m"].sources[0].known_hash == "md5:ce571fd55effeba0271552578f2648bd"
    assert REGISTRY["ml-20m"].sources[0].known_hash == "sha256:96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"
    assert REGISTRY["ml-32m"].sources[0].known_hash == "md5:d472be332d4daa821edc399621853b57"


def test_every_registered_dataset_has_a_checksum():
    hashes = []
    for name, spec in REGISTRY.items():
        for source in spec.sources:
            algo, _, digest = source.known_hash.partition(":")
            assert algo in ("md5", "sha256") and len(digest) == {"md5": 32, "sha256": 64}[algo], name
            assert set(digest) <= set("0123456789abcdef") and len(set(digest)) > 4, name  # hex, not a placeholder
            hashes.append(digest)
    assert len(hashes) == len(set(hashes))  # no two sources share one


@pytest.mark.parametrize("size", ["10m", "20m", "32m"])
def test_large_movielens_download_is_verified_extracted_and_parsed(http_server, monkeypatch, tmp_path, size):
    _serve_movielens(http_server, monkeypatch, tmp_path, size)
    data = tmp_path / "data"
    df = movielens.load_movielens(size, data_dir=data)
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(map(str, df.dtypes)) == ["int32", "int32", "float32", "int64"]
    assert df.values.tolist() == EXPECTED_RATINGS[size]  # "::" fields and half stars read right
    name, ratings, movies = movielens._FILES[size]
    assert sorted(_leftovers(data)) == sorted({ratings.split("/")[0], *REGISTRY[name].files})  # only the listed members
    assert http_server.requests == [f"/{name}.zip"]
    movielens.load_movielens(size, data_dir=data)  # from disk the second time
    assert len(http_server.requests) == 1

    items = movielens.load_movielens_items(size, data_dir=data).set_index("item_id")
    assert items.index.dtype == "int32" and list(items.columns) == ["title", "genres", "year", "main_genre"]
    if size == "10m":
        assert items.loc[185, "title"] == "Net, The (1995)" and items.loc[185, "genres"] == "Action|Crime|Thriller"
        assert items.loc[122, "year"] == 1992 and items.loc[122, "main_genre"] == "Comedy"
    else:
        assert items.loc[29, "title"] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
        assert items.loc[29, "year"] == 1995 and items.loc[2, "main_genre"] == "Adventure"
        assert items.loc[32, "main_genre"] == "unknown"  # "(no genres listed)"


@pytest.mark.parametrize("size", ["10m", "20m", "32m"])
def test_large_movielens_corrupt_download_is_rejected(http_server, monkeypatch, tmp_path, size):
    archive = _serve_movielens(http_server, monkeypatch, tmp_path, size)
    name = LARGE_MOVIELENS[size][0]
    http_server.files[f"/{name}.zip"] = archive[:-40] + bytes(40)  # same length, last bytes zeroed
    data = tmp_path / "data"
    with pytest.raises(DatasetError, match="failed its checksum") as err:
        movielens.load_movielens(size, data_dir=data)
    assert f"MovieLens {size.upper()}" in str(err.value) and "by hand" in str(err.value)
    assert _leftovers(data) == []


@pytest.mark.parametrize("size", ["10m", "20m", "32m"])
def test_large_movielens_wrong_row_count_is_reported(http_server, monkeypatch, tmp_path, size):
    _serve_movielens(http_server, monkeypatch, tmp_path, size, rows=None)  # the real counts: 10,000,054 ...
    expected = f"{movielens._EXPECTED_ROWS[size]:,}"
    with pytest.raises(DatasetError, match=f"should have {expected} ratings.*has 4") as err:
        movielens.load_movielens(size, data_dir=tmp_path / "data")
    assert "delete it" in str(err.value)


@pytest.mark.parametrize("size, ratings", [
    ("10m", "1::122::5::838985046\n1::185::four::838983525\n"),  # not a number
    ("10m", "1::122::5::838985046\n1::185\n"),  # a cut line
    ("20m", "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,,3.5,1112484676\n"),  # an empty id
    ("20m", "user,movie,rating,time\n1,2,3.5,1112486027\n"),  # another header
])
def test_large_movielens_malformed_file_is_reported(http_server, monkeypatch, tmp_path, size, ratings):
    name, members = LARGE_MOVIELENS[size]
    members = {**members, movielens._FILES[size][1]: ratings}
    _serve_movielens(http_server, monkeypatch, tmp_path, size, members=members)
    with pytest.raises(DatasetError, match="ratings.(dat|csv)"):
        movielens.load_movielens(size, data_dir=tmp_path / "data")


def test_read_ratings_parses_a_local_file_without_python_loops(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("".join(f"{u}::{i}::{(u + i) % 10 / 2 + 0.5}::{1_000_000_000 + u * i}\n"
                            for u in range(1, 40) for i in range(1, 30)))
    df = movielens.read_ratings(path, half_stars=True)
    assert len(df) == 39 * 29 and df["rating"].between(0.5, 5).all() and (df["rating"] * 2 % 1 == 0).all()
    assert df.iloc[-1].tolist() == [39, 29, (39 + 29) % 10 / 2 + 0.5, 1_000_000_000 + 39 * 29]
    other = tmp_path / "log.txt"  # a CSV in ML-20M's layout under any name
    other.write_text(ML_CSV_RATINGS)
    back = movielens.read_ratings_csv(other)
    assert back.values.tolist() == EXPECTED_RATINGS["20m"] and back["rating"].dtype == "float32"
    with pytest.raises(DatasetError, match="log.txt is not a MovieLens ratings file"):  # 3.5 is not a whole star
        movielens.read_ratings_csv(other, half_stars=False)


def test_gowalla_from_adjacency_and_test_file(http_server, monkeypatch, tmp_path):
    from course_utils.data.gowalla import load_gowalla

    n_users, n_items = 3, 4
    r = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1]], dtype=np.float32))
    adj = sp.bmat([[None, r], [r.T, None]]).tocsr()
    buf = io.BytesIO()
    sp.save_npz(buf, adj)
    test_txt = b"0 2\n1 0 3\n2 0\n"
    http_server.files["/s_adj_mat.npz"], http_server.files["/test.txt"] = buf.getvalue(), test_txt
    spec = REGISTRY["gowalla"]
    srcs = tuple(dataclasses.replace(s, url=f"{http_server.url}/{s.path.rsplit('/', 1)[-1]}",
                                     known_hash=f"sha256:{_sha(http_server.files['/' + s.path.rsplit('/', 1)[-1]])}")
                 for s in spec.sources)
    monkeypatch.setitem(REGISTRY, "gowalla", dataclasses.replace(spec, sources=srcs, sha256={}))
    df = load_gowalla(data_dir=tmp_path)
    train, test = df[df.split == "train"], df[df.split == "test"]
    assert train[["user_id", "item_id"]].values.tolist() == [[0, 0], [0, 1], [1, 2], [2, 1], [2, 3]]
    assert test[["user_id", "item_id"]].values.tolist() == [[0, 2], [1, 0], [1, 3], [2, 0]]
    assert n_users + n_items == adj.shape[0]


@pytest.mark.real_data
def test_real_files_match_the_registry(real_data_dir):
    for path, digest in REGISTRY["ml-100k"].sha256.items():
        assert datasets.sha256_of(real_data_dir / path) == digest, path
    gowalla = real_data_dir / "lightgcn-paper/gowalla"
    if gowalla.is_dir():
        for path, digest in REGISTRY["gowalla"].sha256.items():
            assert datasets.sha256_of(real_data_dir / path) == digest, path


@pytest.mark.real_data
def test_real_gowalla_sizes(real_data_dir, monkeypatch):
    if not (real_data_dir / "lightgcn-paper/gowalla/test.txt").is_file():
        pytest.skip("the Gowalla split is not in the data folder")
    from course_utils.data.gowalla import load_gowalla

    monkeypatch.setenv(datasets.ENV_VAR, str(real_data_dir))
    df = load_gowalla()
    counts = df["split"].value_counts()
    assert counts["train"] == 810_128 and counts["test"] == 217_242
    assert df["user_id"].nunique() == 29_858 and df["item_id"].max() < 40_981
    assert isinstance(df, pd.DataFrame)


def test_is_local_says_whether_loading_needs_a_download(tmp_path):
    from course_utils.data.datasets import is_local

    assert not is_local("ml-1m", data_dir=tmp_path)
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("1::1::5::1\n")
    assert is_local("ml-1m", ["ml-1m/ratings.dat"], data_dir=tmp_path)
    assert not is_local("ml-1m", data_dir=tmp_path)  # movies.dat missing
    with pytest.raises(KeyError, match="'name' parameter of is_local"):
        is_local("ml-2m")
