"""The benchmarks' entry point (python -m benchmarks): names, arguments, the RESULTS.md rows, small real runs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks._common import COLUMNS, append_rows, format_row  # noqa: E402


def test_list_names_every_benchmark_with_its_summary(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in cli.BENCHMARKS:
        assert name in out
    assert "LightGCN on the paper's Gowalla split" in out and "seed chapter's time table" in out


def test_the_issue_benchmarks_are_there():
    assert {"lightgcn-gowalla", "sasrec", "ncf", "ncf-time", "ml100k", "speed", "hot-paths", "notebooks"} <= set(cli.BENCHMARKS)


@pytest.mark.parametrize("name", list(cli.BENCHMARKS))
def test_every_benchmark_parses_its_defaults_and_the_common_options(name, tmp_path):
    extra = {"sasrec": ["--movielens"], "parity": ["--part", "sasrec"]}.get(name, [])
    args = cli.build_parser().parse_args(["run", name, "--device", "cpu", "--results", str(tmp_path / "R.md"), *extra])
    assert args.name == name and args.device == "cpu" and args.results == tmp_path / "R.md" and not args.no_record
    module = cli._module(name)
    assert callable(module.run) and module.__doc__.strip()


def test_a_bad_option_value_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "ncf", "--protocols", "sampled-50"])
    assert "--protocols" in capsys.readouterr().err


def test_append_rows_creates_the_table_then_appends(tmp_path):
    path = tmp_path / "RESULTS.md"
    row = {"date": "2026-01-01", "benchmark": "x", "machine": "m", "device": "cpu", "versions": "v",
           "settings": "a | b\nc", "metrics": {"ndcg@10": 0.123456, "pairs/s": 12345.6}, "s/epoch": 1.5, "total s": 3}
    append_rows([row], path)
    append_rows([row], path)
    lines = path.read_text().splitlines()
    assert lines.count("| " + " | ".join(COLUMNS) + " |") == 1
    body = [line for line in lines if line.startswith("| 2026-01-01")]
    assert len(body) == 2 and body[0] == format_row(row)
    cells = body[0].strip("|").split(" | ")
    assert len(cells) == len(COLUMNS)  # the '|' in the settings was escaped, the newline removed
    assert "a / b c" in body[0] and "ndcg@10 0.1235, pairs/s 12,346" in body[0]


@pytest.mark.slow
def test_a_run_appends_its_rows_with_machine_and_versions(real_data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_UTILS_DATA", str(real_data_dir))
    path = tmp_path / "RESULTS.md"
    assert cli.main(["run", "ncf", "--device", "cpu", "--configs", "GMF", "--protocols", "loo-100", "--results", str(path)]) == 0
    rows = [line for line in path.read_text().splitlines() if "| ncf |" in line]
    assert len(rows) == 1
    date, name, machine, device, versions, settings, metrics, per_epoch, total = rows[0].strip("| ").split(" | ")
    assert name == "ncf" and "CPU cores" in machine and device.startswith("cpu") and "torch" in versions
    assert settings.startswith("GMF: loo-100") and "6 epochs" in settings
    values = dict(part.rsplit(" ", 1) for part in metrics.split(", "))
    assert 0.3 < float(values["hit_rate@10"]) < 0.9 and 0.1 < float(values["ndcg@10"]) < 0.6  # sampled protocol
    assert float(per_epoch) > 0 and float(total) >= float(per_epoch)


def test_no_record_prints_the_table_and_appends_nothing(real_data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_UTILS_DATA", str(real_data_dir))
    path = tmp_path / "RESULTS.md"
    assert cli.main(["run", "ml100k", "--device", "cpu", "--models", "Popularity", "EASE", "--no-record", "--results", str(path)]) == 0
    assert not path.exists()
    out = capsys.readouterr().out
    ease = next(line for line in out.splitlines() if line.startswith("| ") and "EASE" in line)
    assert "ndcg@10 0.48" in ease  # the README's number: 0.485


def test_unknown_names_are_errors_that_say_what_exists(real_data_dir, monkeypatch):
    monkeypatch.setenv("COURSE_UTILS_DATA", str(real_data_dir))
    with pytest.raises(SystemExit, match=r"--models: unknown \['NCF'\]; choose from .*EASE"):
        cli.main(["run", "ml100k", "--device", "cpu", "--models", "EASE", "NCF", "--no-record"])
    with pytest.raises(SystemExit, match=r"names: no such notebook .*99_missing.ipynb.*00_quickstart.ipynb"):
        cli.main(["run", "notebooks", "--device", "cpu", "99_missing.ipynb", "--no-record"])


def test_parity_variants_differ_from_the_course_in_their_one_choice_only():
    import torch

    from benchmarks import parity
    from course_utils.models.sasrec import SASRec

    kwargs = dict(n_items=40, dim=16, n_layers=2, n_heads=2, max_len=8, dropout=0.5)
    seq = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]])
    torch.manual_seed(0)
    course = SASRec(**kwargs).eval()
    for name in parity.ABLATION:
        recommender, module = parity.SASREC_VARIANTS[name]
        variant = module(**kwargs).eval()
        if name in ("attention-output dropout", "eps 1e-5", "uniform negatives", "course"):
            # same weights, same outputs in eval mode (epsilon: up to its tiny effect)
            state = {k.replace("attention.inner.", "attention."): v for k, v in variant.state_dict().items()}
            course.load_state_dict(state)
            torch.testing.assert_close(variant.encode(seq), course.encode(seq), atol=1e-4, rtol=1e-4)
        if name in ("unit-scale init", "all four changes"):
            assert variant.position.weight.std() > 0.5  # N(0, 1) positions, not Xavier's 0.25
        eps = {m.eps for m in variant.modules() if isinstance(m, torch.nn.LayerNorm)}
        assert eps == ({1e-5} if name in ("eps 1e-5", "all four changes") else {1e-8}), name
        dropped = any(isinstance(m, parity.DroppedAttention) for m in variant.modules())
        assert dropped == (name in ("attention-output dropout", "all four changes")), name
        assert (recommender is parity.UniformNegatives) == (name in ("uniform negatives", "all four changes")), name


def test_the_ncf_reference_init_zeroes_the_biases_and_keeps_the_embeddings():
    from benchmarks.parity import ReferenceInitMLP

    mlp = ReferenceInitMLP(20, 30, hidden=(64, 32, 16, 8))
    assert all((layer.bias == 0).all() for layer in mlp.tower) and (mlp.head.bias == 0).all()
    assert abs(mlp.head.weight.abs().max().item()) <= (3 / 8) ** 0.5
    assert mlp.user.weight.std() < 0.02


def test_defaults_choose_the_best_mean_over_every_seed_and_render_the_readme_table(tmp_path):
    import json

    import pandas as pd

    from benchmarks import defaults

    search = pd.DataFrame([
        {"model": "EASE", "params": json.dumps({"reg_lambda": lam}), "seed": seed, "val ndcg@10": score,
         "val recall@10": score, "seconds": 0.1}
        for lam, scores in ((100.0, (0.30, 0.10, 0.10)), (500.0, (0.20, 0.20, 0.20)), (900.0, (0.9, 0.9, None)))
        for seed, score in zip(defaults.SEEDS, scores, strict=True) if score is not None])
    chosen = defaults.choose(search)
    # 100 wins one seed but 500 has the best mean; 900 misses a seed and cannot win
    assert json.loads(chosen.loc["EASE", "params"]) == {"reg_lambda": 500.0}
    assert chosen.loc["EASE", "val"] == pytest.approx(0.2)
    test = pd.DataFrame([{"model": "EASE", "params": json.dumps({"reg_lambda": 500.0}), "seed": s, "map@10": 0.3,
                          "ndcg@10": 0.4 + s / 100, "precision@10": 0.35, "recall@10": 0.2, "train s": 0.5}
                         for s in defaults.SEEDS])
    search.to_csv(tmp_path / "search.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    table = defaults.render(tmp_path)
    assert "| EASE | reg_lambda=500.0 | 0.2000 ± 0.0000 |" in table and "0.4200 ± 0.0100" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{defaults.BEGIN}\nstale\n{defaults.END}\nafter\n")
    defaults.write_readmes(tmp_path, paths=[readme])
    text = readme.read_text()
    assert "stale" not in text and table in text and text.startswith("before") and text.endswith("after\n")
    with pytest.raises(SystemExit, match="no defaults markers"):
        (tmp_path / "bare.md").write_text("no markers")
        defaults.write_readmes(tmp_path, paths=[tmp_path / "bare.md"])


def test_the_readme_defaults_tables_are_the_rendering_of_the_committed_csvs():
    from benchmarks import defaults

    table = defaults.render()
    for path in defaults.READMES:
        text = path.read_text()
        block = text.split(defaults.BEGIN, 1)[1].split(defaults.END, 1)[0]
        assert block.strip() == table.strip(), f"{path}: rerun python -m benchmarks run defaults --render"


def test_every_default_in_the_defaults_csv_is_the_class_default():
    """The defaults chosen on validation are the recommenders' defaults (a changed grid must change the code too)."""
    import json

    import course_utils
    from benchmarks import defaults

    chosen = defaults.choose(__import__("pandas").read_csv(defaults.LOGS / "search.csv"))
    for name, (cls_name, _, _) in defaults.specs().items():
        if name not in chosen.index:
            continue
        params = getattr(course_utils, cls_name)().get_params()
        for key, value in json.loads(chosen.loc[name, "params"]).items():
            assert params[key] == value, f"{cls_name}.{key}: default {params[key]!r}, chosen on validation {value!r}"
