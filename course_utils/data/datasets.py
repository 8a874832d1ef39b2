"""The dataset registry and the one function that finds or fetches a dataset's files.

Lookup order for every dataset file:
  1. the folder named by the environment variable COURSE_UTILS_DATA (read-only: never written or deleted),
  2. the project's data/ folder (or the folder passed as ``data_dir``),
  3. a download from the publisher with pooch into that folder: the archive's hash is verified, members are
     extracted to a temporary folder and moved into place only when complete, and the archive is deleted.
A file that fails its checksum is never used: in COURSE_UTILS_DATA it raises an error, in the download folder it is
deleted and fetched again.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "COURSE_UTILS_DATA"


class DatasetError(OSError):
    """A dataset could not be found, downloaded or verified. The message says what to do by hand."""


@dataclass(frozen=True)
class Source:
    """One file the publisher serves: a zip archive (``members`` maps member basenames to local paths) or a plain file."""

    url: str
    known_hash: str  # pooch syntax: "md5:..." or "sha256:..."
    members: dict[str, str] = field(default_factory=dict)  # zip: basename in archive -> path in the data folder
    path: str | None = None  # plain file: its path in the data folder

    @property
    def provides(self) -> list[str]:
        return list(self.members.values()) if self.members else [self.path]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    homepage: str
    license: str
    citation: str
    sources: tuple[Source, ...]
    sha256: dict[str, str] = field(default_factory=dict)  # local path -> sha256, where the file's hash is known
    notes: str = ""

    @property
    def files(self) -> list[str]:
        return [p for s in self.sources for p in s.provides]

    def source_of(self, path: str) -> Source:
        return next(s for s in self.sources if path in s.provides)


_ML = "https://files.grouplens.org/datasets/movielens"
_ML_LICENSE = ("GroupLens MovieLens terms: research use, cite the paper below, no commercial use, "
               "no redistribution without GroupLens' permission (see the README inside the archive)")
_ML_CITATION = ("F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. "
                "ACM Transactions on Interactive Intelligent Systems 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872")
_LIGHTGCN = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/947ca2b3b1d2d3545b114145710cb06c4e57b3d2/data/gowalla"

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="ml-100k",
            title="MovieLens 100K",
            homepage="https://grouplens.org/datasets/movielens/100k/",
            license=_ML_LICENSE,
            citation=_ML_CITATION,
            sources=(Source(
                url=f"{_ML}/ml-100k.zip",
                known_hash="md5:0e33842e24a9c977be4e0107933c0723",
                members={n: f"ml-100k/{n}" for n in ["u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info", "README"]},
            ),),
            sha256={
                "ml-100k/README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
                "ml-100k/u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                "ml-100k/u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                "ml-100k/u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
                "ml-100k/u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
                "ml-100k/u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
                "ml-100k/u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
            },
            notes="100,000 ratings (1-5) from 943 users on 1,682 movies, 1997-98; every user has at least 20 ratings.",
        ),
        DatasetSpec(
            name="ml-1m",
            title="MovieLens 1M",
            homepage="https://grouplens.org/datasets/movielens/1m/",
            license=_ML_LICENSE,
            citation=_ML_CITATION,
            sources=(Source(
                url=f"{_ML}/ml-1m.zip",
                known_hash="md5:c4d9eecfca2ab87c1945afe126590906",
                members={n: f"ml-1m/{n}" for n in ["ratings.dat", "movies.dat", "users.dat", "README"]},
            ),),
            notes="1,000,209 ratings from 6,040 users on 3,706 movies, 2000-03.",
        ),
        # The archives' checksums below are the publisher's: GroupLens publishes an .md5 file beside each zip
        # (https://files.grouplens.org/datasets/movielens/ml-10m.zip.md5 etc.). They were taken from public code that
        # records them, and cross-checked where two independent sources exist. The same LensKit file set also records
        # ml-100k.zip md5 0e33842e... and ml-1m.zip md5 c4d9eecf..., the values of the two entries above.
        DatasetSpec(
            name="ml-10m",
            title="MovieLens 10M",
            homepage="https://grouplens.org/datasets/movielens/10m/",
            license=_ML_LICENSE,
            citation=_ML_CITATION,
            sources=(Source(
                url=f"{_ML}/ml-10m.zip",
                # md5 of ml-10m.zip: GroupLens' LensKit project, lenskit/lk-demo-experiment data/ml-10m.zip.dvc (DVC
                # output md5), and eli-osherovich/papers_with_code datasets/movielens/dl_config.py. The archive unpacks
                # to ml-10M100K/ (lenskit/lk-demo-experiment data/dvc.yaml and data/ml-10M100K.dvc).
                known_hash="md5:ce571fd55effeba0271552578f2648bd",
                members={n: f"ml-10M100K/{n}" for n in ["ratings.dat", "movies.dat", "README.html"]},
            ),),
            notes="10,000,054 ratings (0.5-5 in half stars) from 69,878 users on 10,677 movies, 1995-2009; "
                  "ratings.dat is 'UserID::MovieID::Rating::Timestamp'.",
        ),
        DatasetSpec(
            name="ml-20m",
            title="MovieLens 20M",
            homepage="https://grouplens.org/datasets/movielens/20m/",
            license=_ML_LICENSE,
            citation=_ML_CITATION,
            sources=(Source(
                url=f"{_ML}/ml-20m.zip",
                # sha256 (198,702,078 bytes): tensorflow/datasets tensorflow_datasets/url_checksums/movielens.txt.
                # The publisher's md5 cd245b17a1ae2cc31bb14903e1204af3 (same size) is in lenskit/lk-demo-experiment
                # data/ml-20m.zip.dvc and eli-osherovich/papers_with_code datasets/movielens/dl_config.py.
                known_hash="sha256:96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                members={n: f"ml-20m/{n}" for n in ["ratings.csv", "movies.csv", "README.txt"]},
            ),),
            notes="20,000,263 ratings (0.5-5 in half stars) from 138,493 users on 26,744 movies, 1995-2015; "
                  "ratings.csv has the header userId,movieId,rating,timestamp.",
        ),
        DatasetSpec(
            name="ml-32m",
            title="MovieLens 32M",
            homepage="https://grouplens.org/datasets/movielens/32m/",
            license=_ML_LICENSE,
            citation=_ML_CITATION,
            sources=(Source(
                url=f"{_ML}/ml-32m.zip",
                # md5 (238,950,008 bytes): GroupLens' LensKit project, lenskit/lk-demo-experiment data/ml-32m.zip.dvc
                # (DVC output md5 of the download); several other public projects quote the same value from
                # ml-32m.zip.md5. No sha256 from a trusted reference was found.
                known_hash="md5:d472be332d4daa821edc399621853b57",
                members={n: f"ml-32m/{n}" for n in ["ratings.csv", "movies.csv", "README.txt"]},
            ),),
            notes="32,000,204 ratings (0.5-5 in half stars) from 200,948 users; movies.csv lists 87,585 movies; 1995-2023. "
                  "ratings.csv has the header userId,movieId,rating,timestamp.",
        ),
        DatasetSpec(
            name="goodbooks-10k",
            title="goodbooks-10k (GitHub release v1.0)",
            homepage="https://github.com/zygmuntz/goodbooks-10k",
            license="CC BY-SA 4.0 (data scraped from goodreads.com; see the repository's README)",
            citation="Zygmunt Zajac. 2017. Goodbooks-10k: a new dataset for book recommendations. FastML. "
                     "https://github.com/zygmuntz/goodbooks-10k",
            sources=(Source(
                url="https://github.com/zygmuntz/goodbooks-10k/releases/download/v1.0/goodbooks-10k.zip",
                known_hash="sha256:261b97b56db61f3fb2ce5aadbb13704d30179fcc986c17ace665a0af9ed00731",
                members={"ratings.csv": "goodbooks-10k/ratings.csv", "books.csv": "goodbooks-10k/books.csv"},
            ),),
            notes="5,976,479 ratings (user_id, book_id, rating) from 53,424 users on 10,000 books. The original course used "
                  "an older 981,756-row version (Kaggle) with the columns book_id, user_id, rating.",
        ),
        DatasetSpec(
            name="gowalla",
            title="Gowalla check-ins as split for the NGCF and LightGCN papers",
            homepage="https://github.com/gusye1234/LightGCN-PyTorch/tree/master/data/gowalla",
            license="The LightGCN-PyTorch repository has no license file; the raw check-ins are a public SNAP dataset "
                    "(https://snap.stanford.edu/data/loc-gowalla.html)",
            citation="Eunjoon Cho, Seth A. Myers and Jure Leskovec. 2011. Friendship and mobility: user movement in "
                     "location-based social networks. KDD. Split: Wang et al., NGCF, SIGIR 2019; He et al., LightGCN, SIGIR 2020.",
            sources=(
                Source(url=f"{_LIGHTGCN}/test.txt", path="lightgcn-paper/gowalla/test.txt",
                       known_hash="sha256:099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3"),
                Source(url=f"{_LIGHTGCN}/s_adj_mat.npz", path="lightgcn-paper/gowalla/s_adj_mat.npz",
                       known_hash="sha256:6ab3ab7aa1278da3717054c60258d88d2d2d78914fa62db2b13da9321e397cab"),
            ),
            sha256={
                "lightgcn-paper/gowalla/test.txt": "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
                "lightgcn-paper/gowalla/s_adj_mat.npz": "6ab3ab7aa1278da3717054c60258d88d2d2d78914fa62db2b13da9321e397cab",
            },
            notes="29,858 users, 40,981 items; 810,128 train interactions (rebuilt from the normalized adjacency's "
                  "non-zeros) and 217,242 test interactions.",
        ),
    ]
}


def project_data_dir() -> Path:
    """The project's data/ folder when course_utils runs from a checkout, else a per-user cache folder."""
    root = Path(__file__).resolve().parents[2] / "data"
    if (root / "README.md").is_file():
        return root
    import pooch

    return Path(pooch.os_cache("course_utils"))


def _env_dir() -> Path | None:
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DatasetError(f"The environment variable {ENV_VAR} must name an existing folder. Got {value!r}, which is not a folder.")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: hash each file once per process


def _file_hash(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = sha256_of(path)
    return _verified[key]


def _manual_help(spec: DatasetSpec, paths: list[str], folder: Path) -> str:
    urls = sorted({spec.source_of(p).url for p in paths})
    return (f"To install {spec.title} by hand, download {', '.join(urls)}"
            f"{' and unzip it' if any(spec.source_of(p).members for p in paths) else ''}, then put "
            f"{', '.join(paths)} under {folder} (or under the folder named by the environment variable {ENV_VAR}). "
            f"data/README.md lists every dataset.")


def is_local(name: str, paths: list[str] | None = None, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether dataset ``name``'s files (default: all) are on this machine already (COURSE_UTILS_DATA or the data
    folder, or ``data_dir``), so that loading needs no download. Checksums are verified when the data is loaded."""
    if name not in REGISTRY:
        raise KeyError(f"The 'name' parameter of is_local must be one of {sorted(REGISTRY)}. Got {name!r} instead.")
    spec = REGISTRY[name]
    paths = list(spec.files if paths is None else paths)
    folders = [Path(data_dir)] if data_dir is not None else [f for f in (_env_dir(), project_data_dir()) if f]
    return any(all((folder / p).is_file() for p in paths) for folder in folders)


def fetch(name: str, paths: list[str] | None = None, data_dir: str | os.PathLike | None = None) -> Path:
    """Return a folder that holds ``paths`` (default: all files) of dataset ``name``, downloading them if needed.

    With ``data_dir`` only that folder is searched and downloads land there; otherwise COURSE_UTILS_DATA is searched
    first, then the project's data/ folder, which also receives downloads.
    """
    if name not in REGISTRY:
        raise KeyError(f"The 'name' parameter of fetch must be one of {sorted(REGISTRY)}. Got {name!r} instead.")
    spec = REGISTRY[name]
    paths = list(spec.files if paths is None else paths)
    unknown = [p for p in paths if p not in spec.files]
    if unknown:
        raise KeyError(f"The 'paths' parameter of fetch must name files of {name}: {spec.files}. Got {unknown}.")

    if data_dir is not None:
        searched, target = [], Path(data_dir)
    else:
        env = _env_dir()
        searched, target = ([env] if env else []), project_data_dir()

    for folder in searched:  # read-only folders: use them only when complete and verified
        if all((folder / p).is_file() for p in paths):
            for p in paths:
                expected, path = spec.sha256.get(p), folder / p
                if expected and _file_hash(path) != expected:
                    raise DatasetError(
                        f"{path} (from {ENV_VAR}) does not match the publisher's file: sha256 {_file_hash(path)}, expected "
                        f"{expected}. It is corrupt, truncated or another version, and was not used. Replace it with the "
                        f"original. {_manual_help(spec, [p], folder)}")
            return folder

    target.mkdir(parents=True, exist_ok=True)
    for p in paths:  # our own download folder: a bad file is deleted and fetched again
        expected, path = spec.sha256.get(p), target / p
        if path.is_file() and expected and _file_hash(path) != expected:
            path.unlink()
    missing = [p for p in paths if not (target / p).is_file()]
    sources: list[Source] = []
    for p in missing:
        if not any(spec.source_of(p) is s for s in sources):
            sources.append(spec.source_of(p))
    for source in sources:
        _download(spec, source, target)
    for p in paths:
        expected, path = spec.sha256.get(p), target / p
        if expected and _file_hash(path) != expected:
            path.unlink()
            raise DatasetError(f"{path} extracted from {spec.source_of(p).url} does not match the publisher's file "
                               f"(sha256 mismatch) and was deleted. {_manual_help(spec, [p], target)}")
    return target


def _download(spec: DatasetSpec, source: Source, target: Path) -> None:
    import pooch
    import requests

    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target))
    try:
        fname = source.url.rsplit("/", 1)[-1]
        try:
            downloaded = Path(pooch.retrieve(
                source.url, known_hash=source.known_hash, fname=fname, path=staging,
                downloader=pooch.HTTPDownloader(progressbar=True, timeout=60),
            ))
        except ValueError as err:  # pooch: the hash of the downloaded file does not match
            raise DatasetError(f"The download of {spec.title} from {source.url} failed its checksum ({source.known_hash}); "
                               f"the file is corrupt or was cut off, and it was deleted. Try again later. "
                               f"{_manual_help(spec, source.provides, target)}") from err
        except (requests.RequestException, OSError) as err:
            raise DatasetError(f"Could not download {spec.title} from {source.url} ({type(err).__name__}: {err}). "
                               f"Nothing was saved. If this machine is offline: {_manual_help(spec, source.provides, target)}") from err
        if source.members:
            _extract(spec, source, downloaded, staging / "extracted", target)
        else:
            final = target / source.path
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(downloaded, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract(spec: DatasetSpec, source: Source, archive: Path, staging: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            by_name: dict[str, list[str]] = {}
            for member in zf.namelist():
                by_name.setdefault(member.rsplit("/", 1)[-1], []).append(member)
            moves = []
            for basename, local in source.members.items():
                found = by_name.get(basename, [])
                if len(found) != 1:
                    raise DatasetError(f"The archive {source.url} should contain exactly one '{basename}'; found {found}. "
                                       f"{_manual_help(spec, source.provides, target)}")
                out = staging / local
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(found[0]) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                moves.append((out, target / local))
    except zipfile.BadZipFile as err:
        raise DatasetError(f"The archive downloaded from {source.url} is not a valid zip file ({err}); it was deleted. "
                           f"{_manual_help(spec, source.provides, target)}") from err
    for out, final in moves:  # every member extracted completely: only now move them into place
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out, final)
