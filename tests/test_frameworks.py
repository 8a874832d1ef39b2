"""TensorFlow and PyTorch in one process: both import orders work with the pinned versions (fresh processes)."""
import os
import subprocess
import sys

import pytest

SCRIPT = """
import sys
from course_utils import frameworks
first, second = sys.argv[1:]
mods = {}
for name in (first, second):
    mods[name] = getattr(frameworks, name)()
torch, tf = mods["torch"], mods["tensorflow"]
x = torch.ones(3, 3) @ torch.ones(3, 3)
y = tf.linalg.matmul(tf.ones((3, 3)), tf.ones((3, 3)))
keras = frameworks.keras()
assert keras.backend.backend() == "tensorflow"
w = torch.nn.Parameter(torch.ones(3))  # an optimizer step loads torch's lazy parts (triton, in CUDA builds) after TF
optimizer = torch.optim.Adam([w])
w.sum().backward()
optimizer.step()
print(float(x.sum()), float(tf.reduce_sum(y)), frameworks.loaded())
"""


@pytest.mark.slow
@pytest.mark.parametrize("order", [("torch", "tensorflow"), ("tensorflow", "torch")])
def test_both_import_orders_work(order):
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND",)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, *order], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["27.0", "27.0"]


def test_configure_keeps_user_settings(monkeypatch):
    from course_utils import frameworks

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    frameworks.configure()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and os.environ["KERAS_BACKEND"] == "tensorflow"
