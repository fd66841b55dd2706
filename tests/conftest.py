import logging
import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")
SEEDS = os.path.join(SAMPLES, "seeds")


def seed_text(prefix: str) -> str:
    name = next(f for f in sorted(os.listdir(SEEDS)) if f.startswith(prefix))
    with open(os.path.join(SEEDS, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(autouse=True)
def _quiet_beam():
    logging.getLogger().setLevel(logging.ERROR)
    yield


@pytest.fixture
def samples_copy(tmp_path):
    """A private copy of the bundled samples (tests may add files to it)."""
    dst = tmp_path / "samples"
    shutil.copytree(SAMPLES, dst)
    return dst
