import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir():
    """`$ZOO_DATA_DIR`, else ../shared/data beside the repo."""
    return pathlib.Path(os.environ.get("ZOO_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture
def data_dir():
    return shared_data_dir()


def require_data(*parts):
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set ZOO_DATA_DIR to the shared data folder)")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
