"""TensorFlow and PyTorch in one process: the one place that imports TensorFlow/Keras.

Both frameworks bundle native libraries (protobuf, abseil, OpenMP, CUDA runtimes); in some version combinations the
second one to load crashes the interpreter (tensorflow/tensorflow#14812, pytorch/pytorch#6194). The course avoids
that in one place: course code gets TensorFlow only through ``tensorflow()``/``keras()`` here, which set the
environment first (Keras 3 on the TensorFlow backend, TensorFlow's C++ logging quiet; triton, where a CUDA build of
torch brought it, before TensorFlow) and then import. The pinned versions in requirements.txt then load in either
order; tests/test_frameworks.py checks both orders in fresh processes (also in CI's Python 3.13 run),
so a version bump that brings the crash back fails CI instead of a learner's kernel.
"""
from __future__ import annotations

import os
import sys

_ENV = {
    "KERAS_BACKEND": "tensorflow",  # Keras 3 could also run on torch; the course's Keras chapters use TensorFlow
    "TF_CPP_MIN_LOG_LEVEL": "2",  # hide TensorFlow's INFO/WARNING C++ logs (errors still show)
}


def configure() -> None:
    """Set the environment TensorFlow and Keras read at import (user settings win). Safe to call many times."""
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)


def _triton_first() -> None:
    """PyPI's Linux builds of PyTorch are CUDA builds that bring triton (the course's 3.11 environment installs the CPU
    build, which has none), and triton's bundled LLVM crashes the interpreter when it loads after TensorFlow (a
    segfault in ``import triton``, which torch does lazily, e.g. on the first optimizer step; seen with Python 3.13).
    Loaded before TensorFlow, both work: import it first when it is there."""
    import importlib.util

    if "tensorflow" not in sys.modules and importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401


def tensorflow():
    """Import and return TensorFlow, configured for the course."""
    configure()
    _triton_first()
    import tensorflow as tf

    return tf


def keras():
    """Import and return Keras 3 (TensorFlow backend)."""
    tensorflow()
    import keras as k

    return k


def torch():
    """Import and return PyTorch."""
    import torch as t

    return t


def loaded() -> dict[str, bool]:
    """Which frameworks this process has imported so far."""
    return {"tensorflow": "tensorflow" in sys.modules, "torch": "torch" in sys.modules}
