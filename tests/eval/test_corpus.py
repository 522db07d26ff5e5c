"""eval.corpus: the scaling series' corpora of real text (module docstrings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.corpus import module_texts, write_corpus
from index.ingest import load_documents
from qa import IndexConfig
from qa.api import BUNDLED

CFG = IndexConfig(chunk_size=200, chunk_overlap=40)


def make_package(root: Path) -> Path:
    """A small tree of modules with docstrings (some too short, one binary-ish, one repeated)."""
    long = "Explains what this function does, at some length. " * 5
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text(f'"""{long * 5}"""\n', encoding="utf-8")
    for i in range(6):
        body = "\n".join(f'def f{j}():\n    """{long} Number {i}-{j}."""\n' for j in range(8))
        (root / "pkg" / f"mod{i}.py").write_text(body, encoding="utf-8")
    (root / "pkg" / "zcopy.py").write_text((root / "pkg" / "mod0.py").read_text(), encoding="utf-8")
    (root / "pkg" / "short.py").write_text('"""Too short."""\n', encoding="utf-8")
    (root / "pkg" / "nul.py").write_text('def f():\n    """' + long * 5 + '\\x00."""\n',
                                        encoding="utf-8")
    (root / "pkg" / "broken.py").write_text("def (:\n", encoding="utf-8")
    (root / "pkg" / "tests").mkdir()
    (root / "pkg" / "tests" / "test_x.py").write_text(f'"""{long * 5}"""\n', encoding="utf-8")
    return root


def test_module_texts_are_the_docstrings_of_real_modules_once(tmp_path):
    texts = dict(module_texts([make_package(tmp_path)]))
    assert sorted(texts) == ["pkg", *(f"pkg.mod{i}" for i in range(6))]   # no copy, short, tests
    assert all(t.startswith(name + "\n\n") for name, t in texts.items())
    assert "Number 3-7." in texts["pkg.mod3"]


def test_a_corpus_has_the_chunks_asked_for_and_starts_with_the_article(tmp_path):
    roots = [make_package(tmp_path / "src")]
    article = len(load_documents([BUNDLED])[0].text)
    info = write_corpus(tmp_path / "c", 100, config=CFG, roots=roots)
    docs = load_documents([tmp_path / "c"])
    assert docs[0].text == BUNDLED.read_text(encoding="utf-8") and len(docs[0].text) == article
    assert info["documents"] == len(docs) > 1 and info["chunks"] >= 100
    assert not list(tmp_path.glob(".c.tmp-*"))
    # Kept as is when asked again; too much asked is a clear error, and nothing is left.
    mtime = (tmp_path / "c" / ".corpus").stat().st_mtime_ns
    assert write_corpus(tmp_path / "c", 100, config=CFG, roots=roots) == info
    assert (tmp_path / "c" / ".corpus").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="fewer than the 100,000 asked for"):
        write_corpus(tmp_path / "d", 100_000, config=CFG, roots=roots)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".d.tmp-*"))
