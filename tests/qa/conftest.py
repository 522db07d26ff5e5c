"""Fixtures for qa/: one real-model bot over the bundled article per session."""

from __future__ import annotations

import pytest

from qa import QA


@pytest.fixture(scope="session")
def bundled_bot(tmp_path_factory) -> QA:
    """The bundled article with the real model, indexed once into a temp folder."""
    return QA.load(index_dir=tmp_path_factory.mktemp("bundled-index"), progress=False)
