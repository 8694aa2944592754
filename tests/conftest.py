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


# Module- and session-scoped fixtures that cost nothing to make again.
_CHEAP_SHARED_FIXTURES = {"data_dir", "corpus"}  # a path; a file of 300 lines


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the marks
def pytest_collection_modifyitems(config, items):
    """Under `pytest -n` (`--dist loadgroup`, pyproject.toml) the tests of a module that use one of
    its module- or session-scoped fixtures (a trained run, an export, a browser) go to one worker as
    one unit, so the fixture is made once; balanced one by one, each worker made it again. Tests
    without such a fixture are balanced one by one; an explicit `xdist_group` mark is kept."""
    for item in items:
        if item.get_closest_marker("xdist_group") or not hasattr(item, "_fixtureinfo"):
            continue
        definitions = item._fixtureinfo.name2fixturedefs
        ours = (definitions[name][-1] for name in item.fixturenames
                if definitions.get(name) and name not in _CHEAP_SHARED_FIXTURES)
        if any(d.baseid and d.scope in ("module", "session") for d in ours):  # baseid "": pytest's own
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
