import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repository_root(monkeypatch):
    """Tests name specs relative to the repository root, as a user at its top would."""
    monkeypatch.chdir(ROOT)


os.environ.setdefault("COLUMNS", "160")
