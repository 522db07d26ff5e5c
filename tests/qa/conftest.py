"""Fixtures for qa/: one real-model bot over the bundled article per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import QA

DEV_SET = Path(__file__).resolve().parents[1] / "data" / "china-kazakhstan.dev.jsonl"


@pytest.fixture(scope="session")
def bundled_bot(tmp_path_factory) -> QA:
    """The bundled article with the real model, indexed once into a temp folder."""
    return QA.load(index_dir=tmp_path_factory.mktemp("bundled-index"), progress=False)


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    with open(DEV_SET, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
