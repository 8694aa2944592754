"""Shared fixtures: the real-data folder and a tiny-model factory.

Real-data tests read `LIGHTRNN_DATA` (default `../shared/data` beside the repository) and skip
cleanly when it is absent.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def data_dir():
    path = os.environ.get("LIGHTRNN_DATA", os.path.join(REPO, "..", "shared", "data"))
    if not os.path.isdir(path):
        pytest.skip(f"shared data not found at {path} (set LIGHTRNN_DATA)")
    return path


@pytest.fixture
def tiny_model():
    """Factory: a LightRNNModel with V=10 in a 4x3 table (2 empty cells), E=H=8, random table."""
    from lightrnn_tf.model import LightRNNModel

    def make(vocab_size=10, rows=4, cols=3, layers=2, dropout=0.0, seed=0):
        import keras

        keras.utils.set_random_seed(seed)
        return LightRNNModel(vocab_size, rows, cols, embedding_dim=8, hidden_dim=8, num_layers=layers,
                             dropout=dropout, table_seed=seed)

    return make


@pytest.fixture
def rng():
    return np.random.default_rng(0)
