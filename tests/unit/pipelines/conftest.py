from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webhook.pipelines import Engine

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def engine() -> Engine:
    return Engine.load(trust_dir=EXAMPLES / "t1_good" / "trust")


@pytest.fixture
def t1(tmp_path: Path) -> Path:
    dst = tmp_path / "t1"
    shutil.copytree(EXAMPLES / "t1_good", dst)
    return dst


@pytest.fixture
def t2(tmp_path: Path) -> Path:
    dst = tmp_path / "t2"
    shutil.copytree(EXAMPLES / "t2_good", dst)
    return dst
