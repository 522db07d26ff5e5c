"""Tests for index.onnx_embed with the real all-MiniLM-L6-v2 (offline; exported once per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import index.onnx_embed as onnx_embed
from index.config import DEFAULT_MODEL
from index.errors import WriteError
from index.onnx_embed import (
    META_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxEncoder, default_export_dir, export_onnx,
    load_encoder,
)
from index.sentences import split_sentences

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = (ROOT / "data" / "china-kazakhstan.txt").read_text(encoding="utf-8")

EDGE_CASES = [
    "What is the capital of Kazakhstan?",
    "who signed the agreement",
    "How long is the border between China and Kazakhstan?",
    "When did trade between the two countries double?",
    "The budget was $13.9 billion (≈ €12.7bn) in FY2023, up 4.5% y/y.",
    "1,000,000",
    "3.14159 2.71828 1.41421",
    "Call +7 (727) 555-01-23 before 09:30 on 2024-03-15.",
    "Café, naïve, façade, coöperate, jalapeño, Øresund, Straße.",
    "中华人民共和国与哈萨克斯坦共和国的边界线长约1700公里。",
    "Қазақстан Республикасы — Орталық Азиядағы мемлекет.",
    "Это предложение на русском языке.",
    "مرحبا بالعالم",
    "I love this 😀🎉🇰🇿 so much!!!",
    "?!?!...",
    "—",
    "",
    "Kazakhstan",
    "a",
    "   lots    of\t\twhite\n\n\nspace   between   words   ",
    "\n\n\n",
    "ALL CAPS HEADLINE ABOUT BELT AND ROAD",
    "https://example.com/path?query=1&lang=kk#section",
    "def embed_texts(texts: list[str]) -> np.ndarray: return x[::-1]",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    # Right at the 256-piece limit: [CLS] + n pieces + [SEP].
    "word " * 253,
    "word " * 254,
    "word " * 255,
    "hello " * 600,
]


def varied_texts() -> list[str]:
    """100 texts: sentences and paragraphs of the article, runs of paragraphs
    well past 256 word pieces, and the hand-written edge cases."""
    paragraphs = [p for p in ARTICLE.split("\n\n") if p.strip()]
    sentences = [ARTICLE[s:e] for s, e in split_sentences(ARTICLE)]
    long_runs = [" ".join(paragraphs[i:i + 3]) for i in range(0, len(paragraphs), 3)]
    texts = list(EDGE_CASES) + long_runs + paragraphs[:10]
    texts += sentences[:100 - len(texts) - 5]
    texts += [s.upper() for s in sentences[-5:]]
    return texts


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    return export_onnx(DEFAULT_MODEL, tmp_path_factory.mktemp("onnx") / "minilm")


@pytest.fixture(scope="session")
def encoder(export_dir) -> OnnxEncoder:
    return OnnxEncoder(export_dir)


@pytest.fixture(scope="session")
def varied_vectors(encoder) -> np.ndarray:
    """``encoder``'s vectors of ``varied_texts()``, in one call (a few seconds)."""
    return encoder.embed_texts(varied_texts())


# ---------------------------------------------------------------- vectors

def test_the_test_texts_are_varied(encoder):
    texts = varied_texts()
    assert len(texts) == 100
    full = encoder.tokenizer.encode_batch(texts)
    untruncated = Tokenizer.from_file(str(encoder.folder / TOKENIZER_FILE))
    untruncated.no_truncation()
    untruncated.no_padding()
    lengths = [len(e.ids) for e in untruncated.encode_batch(texts)]
    assert sum(n > 256 for n in lengths) >= 5  # truncation is exercised
    assert sum(n <= 16 for n in lengths) >= 20  # and short texts are too
    assert max(len(e.ids) for e in full) == 256


def test_vectors_match_sentence_transformers(varied_vectors, real_embedder):
    texts = varied_texts()
    ours = varied_vectors
    theirs = real_embedder.embed_texts(texts)
    cosines = np.sum(ours * theirs, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.9999, f"cosine {cosines[worst]:.6f} for {texts[worst]!r:.80}"


def test_batching_does_not_change_vectors(encoder, varied_vectors):
    texts = varied_texts()
    alone = np.vstack([encoder.embed_texts([t]) for t in texts])
    np.testing.assert_allclose(varied_vectors, alone, atol=1e-5)
    # Batches capped at 3 rows, on the texts of all lengths among the edge cases.
    edge = len(EDGE_CASES)
    small_batches = OnnxEncoder(encoder.folder, batch_size=3).embed_texts(texts[:edge])
    np.testing.assert_allclose(small_batches, varied_vectors[:edge], atol=1e-5)


def test_shape_dtype_and_norms(encoder):
    texts = ["London weather is rainy.", "It often rains in London.", "a"]
    vectors = encoder.embed_texts(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert vectors.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.embed_texts(["hello"]).shape == (1, 384)
    assert encoder.name == DEFAULT_MODEL
    assert encoder.dim == 384


def test_empty_list(encoder):
    vectors = encoder.embed_texts([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_string_is_rejected(encoder):
    with pytest.raises(TypeError):
        encoder.embed_texts("London weather")
    with pytest.raises(TypeError, match="int"):
        encoder.embed_texts(["fine", 3])


def test_encoding_imports_no_torch(export_dir):
    code = (
        "import index.onnx_embed as m; import sys; "
        f"e = m.OnnxEncoder({str(export_dir)!r}); e.embed_texts(['hi']); "
        "print(any(k in sys.modules for k in ('torch', 'transformers', 'sentence_transformers')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- the export

def test_export_folder_and_meta(export_dir):
    assert sorted(p.name for p in export_dir.iterdir()) == sorted([META_FILE, MODEL_FILE,
                                                                   TOKENIZER_FILE])
    meta = json.loads((export_dir / META_FILE).read_text(encoding="utf-8"))
    assert meta["model_name"] == DEFAULT_MODEL
    assert (meta["dim"], meta["max_seq_length"], meta["pooling"], meta["normalize"]) == \
        (384, 256, "mean", True)
    assert meta["weights_fingerprint"] == onnx_embed.weights_fingerprint(DEFAULT_MODEL)
    # No temporary folders are left beside the export.
    assert [p.name for p in export_dir.parent.iterdir()] == [export_dir.name]




def test_the_exported_graph_uses_the_fused_bert_operators(export_dir):
    import onnx

    ops = [node.op_type for node in onnx.load(str(export_dir / MODEL_FILE)).graph.node]
    # One fused attention per layer of MiniLM-L6, and no unfused softmax left.
    assert ops.count("Attention") == 6
    assert ops.count("SkipLayerNormalization") == 12
    assert "Softmax" not in ops
def _failing_export_graph(model, path):
    path.write_bytes(b"half a model")
    raise OSError("disk full")


def test_a_failed_export_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_embed, "_export_graph", _failing_export_graph)
    target = tmp_path / "exports" / "minilm"
    # What an export killed earlier left behind; its process is gone.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (target.parent / f".minilm.tmp-{int(dead.stdout)}-abc").mkdir(parents=True)
    with pytest.raises(WriteError, match=f"cannot write the ONNX export at {str(target)!r}: disk full"):
        export_onnx(DEFAULT_MODEL, target)
    assert list(target.parent.iterdir()) == []


def test_a_failed_export_keeps_the_previous_one(export_dir, tmp_path, monkeypatch):
    target = tmp_path / "minilm"
    target.mkdir()
    for name in (META_FILE, TOKENIZER_FILE, MODEL_FILE):
        os.link(export_dir / name, target / name)  # a copy without copying 90 MB
    monkeypatch.setattr(onnx_embed, "_export_graph", _failing_export_graph)
    with pytest.raises(WriteError, match=f"cannot write the ONNX export at {str(target)!r}: disk full"):
        export_onnx(DEFAULT_MODEL, target)
    assert [p.name for p in tmp_path.iterdir()] == ["minilm"]
    assert load_encoder(target) is not None


def test_export_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match="notes.txt"):
        export_onnx(DEFAULT_MODEL, tmp_path)
    assert (tmp_path / "notes.txt").exists()


# ---------------------------------------------------------------- loading

def test_load_encoder_finds_a_complete_export(export_dir):
    encoder = load_encoder(export_dir, threads=2)
    assert encoder is not None
    assert (encoder.name, encoder.dim, encoder.threads) == (DEFAULT_MODEL, 384, 2)


def _partial_copy(export_dir: Path, folder: Path, names) -> Path:
    folder.mkdir()
    for name in names:
        os.symlink(export_dir / name, folder / name)
    return folder


@pytest.mark.parametrize("case", ["missing", "empty", "no model", "no tokenizer", "no meta",
                                  "garbage meta", "meta is a list", "other format",
                                  "truncated model"])
def test_load_encoder_returns_none_without_a_complete_export(export_dir, tmp_path, case, caplog):
    folder = tmp_path / "export"
    everything = (META_FILE, MODEL_FILE, TOKENIZER_FILE)
    if case == "empty":
        folder.mkdir()
    elif case.startswith("no "):
        missing = {"model": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "meta": META_FILE}[case[3:]]
        _partial_copy(export_dir, folder, [n for n in everything if n != missing])
    elif case != "missing":
        _partial_copy(export_dir, folder, [MODEL_FILE, TOKENIZER_FILE])
        meta = json.loads((export_dir / META_FILE).read_text(encoding="utf-8"))
        text = {"garbage meta": '{"format": 1, "model_na',
                "meta is a list": "[1, 2]",
                "other format": json.dumps({**meta, "format": 999}),
                "truncated model": json.dumps(meta)}[case]
        (folder / META_FILE).write_text(text, encoding="utf-8")
        if case == "truncated model":
            (folder / MODEL_FILE).unlink()
            (folder / MODEL_FILE).write_bytes(b"\x08\x07")
    with caplog.at_level("DEBUG", logger="index.onnx_embed"):
        assert load_encoder(folder) is None
    assert "no ONNX encoder" in caplog.text
    with pytest.raises(ValueError, match="no complete ONNX export"):
        OnnxEncoder(folder)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_threads_must_be_a_positive_integer(export_dir, threads):
    with pytest.raises(ValueError, match=f"threads must be .*{threads!r}"):
        OnnxEncoder(export_dir, threads=threads)
    with pytest.raises(ValueError, match=f"threads must be .*{threads!r}"):
        load_encoder(export_dir, threads=threads)


def test_batch_size_must_be_positive(export_dir):
    with pytest.raises(ValueError, match="batch_size must be .*0"):
        OnnxEncoder(export_dir, batch_size=0)


# ---------------------------------------------------------------- the cache folder

def _fake_model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 384}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_default_export_dir_is_stable_and_per_model(tmp_path):
    cache = tmp_path / "cache"
    first = default_export_dir(DEFAULT_MODEL, cache)
    assert first == default_export_dir(DEFAULT_MODEL, cache)
    assert first.parent == cache
    assert first.name.startswith("sentence-transformers--all-MiniLM-L6-v2-")
    # The same weights under another name get their own export (meta.json names the model).
    same_weights = str(onnx_embed.model_path(DEFAULT_MODEL))
    assert default_export_dir(same_weights, cache) != first


def test_default_export_dir_changes_with_the_weights(tmp_path):
    model = str(_fake_model(tmp_path / "my-model"))
    cache = tmp_path / "cache"
    before = default_export_dir(model, cache)
    (Path(model) / "config.json").write_text('{"hidden_size": 768}', encoding="utf-8")
    after_config = default_export_dir(model, cache)
    weights = Path(model) / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size, new file
    after_weights = default_export_dir(model, cache)
    assert len({before, after_config, after_weights}) == 3


def test_unknown_model_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="no-such-model"):
        default_export_dir("no-such-model", tmp_path)
