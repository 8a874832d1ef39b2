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
        assert all(f in text for f in spec.files if not f.endswith(("README", "u.user", "u.occupation", "u.info", "users.dat"))), spec.name
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
        fetch("ml-20m")
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
    meta = load_goodbooks_books(data_dir=tmp_path)
    assert meta.iloc[0].to_dict() == {"item_id": 258, "title": "The Shadow of the Wind", "authors": "Carlos Ruiz Zafón",
                                    "year": 2001, "average_rating": 4.24}


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
