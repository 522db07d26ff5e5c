"""Shared fixtures: an offline fake embedder, a three-document corpus, the real model.

The default run is offline and fast (STYLE.md section 9): tests use the
deterministic ``FakeEmbedder``; tests that need the real model are marked
``slow`` and share one ``real_embedder`` per session.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

# Tests import ``index`` and ``qa`` from the repository root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: uses the real embedding model")


@pytest.fixture(scope="session")
def _shared_models(tmp_path_factory) -> Path:
    """One folder for the model's ONNX export (qa.api.query_encoder) for the
    whole run: exporting takes seconds, and it is the same for every test."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory, _shared_models):
    """Keep the per-user cache out of the real home, and ignore a QA_INDEX_DIR
    set in the developer's shell. Each test gets its own cache, sharing only the
    ONNX export."""
    cache = tmp_path_factory.mktemp("cache")
    (cache / "docqa").mkdir()
    (cache / "docqa" / "models").symlink_to(_shared_models, target_is_directory=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("QA_INDEX_DIR", raising=False)


class FakeEmbedder:
    """Deterministic and offline: hashed bag of words, L2-normalised.

    ``calls`` counts ``embed_texts`` calls and ``texts_embedded`` the texts
    they were given, so tests can check what was (re)embedded.
    """

    name = "fake-32"
    dim = 32

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0
        self.words_embedded = 0   # lemmas, for the sentence analysis (not counted above)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not a string")
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_words(self, words: list[str]) -> np.ndarray:
        """``embed_texts`` for the analysis' lemmas, counted in ``words_embedded``."""
        calls, embedded = self.calls, self.texts_embedded
        out = self.embed_texts(words)
        self.calls, self.texts_embedded = calls, embedded
        self.words_embedded += len(words)
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_embedder_class() -> type[FakeEmbedder]:
    """The class itself, for tests that need a second instance or a subclass."""
    return FakeEmbedder


# Each document is long enough to split into several chunks at chunk_size=200.
WEATHER = (
    "London weather is famously changeable. "
    "It rains on many days of the year, but the showers are often light and short.\n\n"
    "In winter the temperature rarely falls far below freezing, and snow is unusual "
    "in the city centre. Fog was common in the nineteenth century, when coal smoke "
    "mixed with mist from the Thames.\n\n"
    "Always carry an umbrella in London. Summers are mild, with long evenings and "
    "occasional heat waves that the Underground makes hard to bear. Windy days come "
    "with Atlantic storms in autumn.\n\n"
    "Always carry an umbrella in London. The Met Office publishes forecasts every "
    "hour, and Londoners check them before leaving home. Spring brings blossom to the "
    "parks and sudden April showers.\n\n"
    "Always carry an umbrella in London. Visitors are often surprised by how green "
    "the city is after a wet season.\n"
)

TRAINS = (
    "# Trains of Europe\n\n"
    "Europe has one of the densest railway networks in the world. High-speed lines "
    "link Paris, Brussels, Amsterdam and Cologne, and night trains are returning "
    "after years of decline.\n\n"
    "## Funding\n\n"
    "In 2023 the rail agency announced investments worth $13.9 billion for new "
    "tracks, signalling and stations. Mr. Smith, the agency's spokesman, said the "
    "money would be spent over ten years. Critics asked whether the budget was "
    "realistic; Mr. Smith replied that it was.\n\n"
    "## Travel\n\n"
    "- Book early for cheaper fares.\n"
    "- Interrail passes cover 33 countries.\n"
    "- Seat reservations are compulsory on some routes.\n\n"
    "Dr. Jones, a historian, noted that the first public railway opened in 1825. "
    "Since then trains have shaped the growth of cities across the continent, and "
    "stations became landmarks in their own right.\n"
)

MONEY = (
    "Money talks, they say. “Cash is king,” said the banker – and he meant it.\n\n"
    "Inflation eats savings… slowly at first, then quickly. A loaf of bread that "
    "cost 1,000 lira in 1990 cost far more a decade later. Central banks raise "
    "interest rates to slow it down – sometimes too late.\n\n"
    "“Diversify,” the adviser repeated. ‘Never put all your eggs in one basket.’ "
    "Bonds, shares, property and gold each behave differently when markets fall.\n\n"
    "Some people keep coins in a jar; others trust index funds… Either way, the "
    "habit of saving matters more than the method. Wait… what about debt? Paying "
    "off a credit card with 20% interest is the best investment most households can "
    "make.\n"
)

CORPUS = {"weather.txt": WEATHER, "notes/trains.md": TRAINS, "money.txt": MONEY}


def write_corpus(folder: Path, files: dict[str, str] = CORPUS) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def corpus_writer():
    """``write_corpus``, for tests outside this folder's imports (``from conftest import``
    may find another folder's conftest, by the order tests run)."""
    return write_corpus


@pytest.fixture
def corpus_texts() -> dict[str, str]:
    """``{doc_id: text}`` of the documents ``corpus_dir`` writes."""
    return dict(CORPUS)


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """A folder with ``weather.txt``, ``notes/trains.md`` and ``money.txt``."""
    return write_corpus(tmp_path / "corpus")


DEV_SET = ROOT / "tests" / "data" / "china-kazakhstan.dev.jsonl"


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    """The 40 dev questions on the bundled article (a validation set: nothing is fitted on it)."""
    with open(DEV_SET, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def real_embedder():
    """The real all-MiniLM-L6-v2 (offline, from a pip package), loaded once."""
    from index.embed import Embedder

    embedder = Embedder()
    embedder.embed_texts(["warm up"])  # load now, so the first test is not the slow one
    return embedder
