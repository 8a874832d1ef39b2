"""The project's set-up: README's two commands, CI calling the README's test command, the two dependency lists."""
import re
import subprocess

import yaml

from conftest import ROOT


def _pins(lines):
    pins = {}
    for raw in lines:
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, _, version = (re.split(r"(==|=)", line, maxsplit=1) + ["", ""])[:3]
        pins[name.strip().lower()] = version.strip()
    return pins


def test_environment_yml_matches_the_pip_requirements():
    pip = {}
    for f in ["requirements.txt"]:
        pip.update(_pins((ROOT / f).read_text().splitlines()))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip_section = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
        else:
            conda.update(_pins([dep]))
    assert conda.pop("python") == "3.11" and conda.pop("pip") == ""
    assert {**conda, **_pins(pip_section)} == pip
    assert "-e ." in pip_section


def _code_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("## Set up and open the course"): readme.index("## Data")]
    blocks = [b.strip() for b in _code_blocks(setup)]
    assert blocks == ["make lab", "make test"]
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1].strip() == "make test"
    assert "../shared/data" in (ROOT / ".ci/run").read_text()


def test_make_test_runs_unit_tests_and_every_notebook():
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "pytest tests" in dry and "--nbval-lax" in dry and "notebooks" in dry
    assert "--dist loadfile" in dry and "OMP_NUM_THREADS=1" in dry  # each notebook whole in one kernel, one thread each


def test_no_dataset_file_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert not [f for f in tracked if f.startswith("data/") and f != "data/README.md"]
    assert not [f for f in tracked if re.search(r"(u\.data|ratings\.(csv|dat)|\.zip|s_adj_mat\.npz)$", f)]
