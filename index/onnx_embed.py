"""A query-time sentence encoder that runs the embedding model with ONNX Runtime.

The same vectors as :class:`index.embed.Embedder` (cosine >= 0.9999), without
importing torch, transformers or sentence-transformers: encoding needs only
numpy, onnxruntime, tokenizers and the standard library, so a fresh process
answers in about a second instead of ten. Indexing keeps using ``Embedder``.

API
---
``export_onnx(model_name, folder) -> Path``
    Export ``model_name`` (``index.embed.model_path`` maps it to its weights)
    into ``folder``, atomically, after checking its vectors against
    sentence-transformers'. Needs torch, sentence-transformers, onnx and onnxruntime
    (imported inside the function only). About 4-5 s once those are imported.
``default_export_dir(model_name, cache_root) -> Path``
    ``cache_root / "<model>-<key>"``, where the key changes with the model name,
    its weights and the export format, so two models never share a folder and
    updated weights get a new one. Cheap (stats the weights, reads small files).
``weights_fingerprint(model_name) -> str``
    The hash of the weights that ``default_export_dir`` and ``meta.json`` use.
``load_encoder(folder, *, threads=1) -> OnnxEncoder | None``
    The encoder of a complete export, or ``None`` (logged at debug level) when
    ``folder`` holds none.
``OnnxEncoder(folder, *, threads=1, batch_size=BATCH_SIZE)``
    ``name``, ``dim`` and ``embed_texts(list[str]) -> float32[n, dim]``, with
    exactly the contract of ``Embedder.embed_texts``. The ONNX session and the
    tokenizer are loaded on first use.

An export folder holds three files:

- ``model.onnx``: BERT (with ONNX Runtime's fused attention and layer-norm
  operators) plus mean pooling over the attention mask plus L2
  normalisation, all in one graph; inputs ``input_ids`` and ``attention_mask``
  (int64, ``[batch, seq]``), output ``sentence_embedding`` (float32, ``[batch, dim]``);
- ``tokenizer.json``: the model's own fast tokenizer, copied unchanged;
- ``meta.json``: model name, dim, max_seq_length, pooling, normalisation, the
  weights' fingerprint, the sizes of the other two files and the versions of
  the tools that made it. A folder without it is never loaded.

>>> folder = export_onnx(DEFAULT_MODEL, cache / "minilm")      # doctest: +SKIP
>>> OnnxEncoder(folder).embed_texts(["hello", "world"]).shape  # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

from index.errors import InputError

import hashlib
import json
import logging
import os
import re
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from index.embed import BATCH_SIZE, model_path
from index.files import (check_replaceable, remove_dead_temps, remove_tree, swap_in,
                         temp_folder_for, write_error)

log = logging.getLogger(__name__)

# Bump when the graph, the tokenizer settings or meta.json change meaning:
# it is part of default_export_dir's key, and load_encoder rejects other values.
EXPORT_FORMAT = 2   # 2: BERT's operators fused (_fuse_graph)
OPSET = 17
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
OWN_FILES = frozenset({MODEL_FILE, TOKENIZER_FILE, META_FILE})
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "sentence_embedding"
# An export whose vectors disagree more than this with sentence-transformers'
# on the check texts is refused (we measure >= 0.99999 for MiniLM).
MIN_EXPORT_COSINE = 0.9999

# Files whose content decides the model's vectors. Small ones are hashed
# whole; the weights themselves by name, size and mtime, because hashing the
# 90 MB file takes 0.25 s, too slow for every cold start.
_CONFIG_FILES = ("config.json", "modules.json", "sentence_bert_config.json",
                 "config_sentence_transformers.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt", "1_Pooling/config.json")
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin")  # sharded weights too

# Word pieces up to which a row's cost is mostly the per-call overhead
# (measured: 8 rows of 16 pieces take 3x one row, not 8x).
_SHORT = 32

# Texts for the check that every export passes before it is renamed into
# place: two lengths in one batch (padding), truncation, and non-ASCII text.
_CHECK_TEXTS = (
    "What is the capital of Kazakhstan?",
    "Café prices rose 5% in 2023 — 价格上涨了.",
    " ".join(f"word{i}" for i in range(300)),
)


# ---------------------------------------------------------------- locating

def weights_fingerprint(model_name: str) -> str:
    """Hex SHA-256 of the files in ``model_name``'s weights folder that decide
    its vectors: the configs and tokenizer by content, the weights by name,
    size and modification time. Changes when the weights are replaced."""
    weights = model_path(model_name)
    digest = hashlib.sha256()
    for name in _CONFIG_FILES:
        path = weights / name
        if path.is_file():
            digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for path in sorted(p for pattern in _WEIGHT_PATTERNS for p in weights.glob(pattern)):
        st = path.stat()
        digest.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def default_export_dir(model_name: str, cache_root: Path) -> Path:
    """The export folder for ``model_name`` under ``cache_root``.

    Named ``<model>-<key>``: ``<model>`` is a readable slug of the name (for
    display only) and ``<key>`` 16 hex digits of a hash of the model name, its
    :func:`weights_fingerprint` and ``EXPORT_FORMAT``.

    >>> default_export_dir(DEFAULT_MODEL, Path("/cache")).name  # doctest: +SKIP
    'sentence-transformers--all-MiniLM-L6-v2-b9b953448dab43d0'
    """
    key = hashlib.sha256(
        json.dumps([EXPORT_FORMAT, model_name, weights_fingerprint(model_name)]).encode()
    ).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_name.replace("/", "--")).strip("-.")[-60:]
    return Path(cache_root) / f"{slug or 'model'}-{key}"


# ---------------------------------------------------------------- exporting

def export_onnx(model_name: str, folder: Path) -> Path:
    """Export ``model_name`` to ONNX in ``folder`` and return ``folder``.

    The graph is sentence-transformers' Transformer + mean Pooling + Normalize
    with dynamic batch and sequence axes, BERT's operators fused for ONNX
    Runtime. Everything is written to a temporary
    folder beside ``folder``, checked against sentence-transformers on a few
    texts, and renamed into place at the end: a crash leaves either the old
    export or none, never half of one. An existing export in ``folder`` is
    replaced; a folder holding other files is refused (``ValueError``), as is a
    model that is not a plain mean-pooled transformer. A failure to write
    raises ``WriteError`` naming ``folder`` and the reason; the temporary
    folder is deleted whatever fails.
    """
    folder = Path(folder)
    check_replaceable(folder, OWN_FILES, "ONNX export")
    weights = model_path(model_name)
    fingerprint = weights_fingerprint(model_name)
    model = _load_sentence_transformer(weights)
    try:
        remove_dead_temps(folder)
        tmp = temp_folder_for(folder)
        try:
            _export_graph(model, tmp / MODEL_FILE)
            _write_tokenizer(model, weights, tmp / TOKENIZER_FILE)
            _write_meta(tmp, model_name, model, fingerprint)
            _check_export(tmp, model)
            swap_in(tmp, folder)
        except BaseException:
            remove_tree(tmp)
            raise
    except OSError as exc:
        raise write_error("the ONNX export", folder, exc) from None
    return folder


def _load_sentence_transformer(weights: Path):
    """sentence-transformers' model of ``weights``, checked to be one we can export."""
    # The weights are local; these make any accidental hub lookup fail fast.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model = SentenceTransformer(str(weights), device="cpu").eval()
    kinds = [type(m).__name__ for m in model]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ValueError(f"cannot export {str(weights)!r}: expected modules Transformer, Pooling "
                         f"[, Normalize], got {', '.join(kinds)}")
    pooling = model[1].get_config_dict().get("pooling_mode")
    if pooling != "mean":
        raise ValueError(f"cannot export {str(weights)!r}: pooling must be 'mean', got {pooling!r}")
    if getattr(model[0], "do_lower_case", False):
        raise ValueError(f"cannot export {str(weights)!r}: do_lower_case=True is not supported")
    return model


def _export_graph(model, path: Path) -> None:
    """Trace BERT + mean pooling + L2 normalisation into one ONNX file at ``path``."""
    import torch

    class Pooled(torch.nn.Module):
        """What SentenceTransformer.encode(normalize_embeddings=True) computes."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            # One text per row: token types are all 0, as the tokenizer makes them.
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    bert = model[0].auto_model
    attention = bert.config._attn_implementation
    # Eager attention traces to plain MatMul/Softmax; its vectors match sdpa's.
    bert.set_attn_implementation("eager")
    try:
        features = model.preprocess(list(_CHECK_TEXTS[:2]))
        example = (features["input_ids"], features["attention_mask"])
        # The TorchScript exporter (dynamo=False): ~2 s and one self-contained
        # file, where the torch.export one (dynamo=True) takes ~11 s for a
        # graph just as fast at run time, and needs onnxscript. Its tracer and
        # deprecation warnings are expected: _check_export verifies the graph
        # on other batch and sequence sizes.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(bert).eval(), example, str(path), dynamo=False,
                input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                              "attention_mask": {0: "batch", 1: "sequence"},
                              OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET, do_constant_folding=True,
            )
    finally:
        bert.set_attn_implementation(attention)  # _check_export compares with the original
    _fuse_graph(path, bert.config)


def _fuse_graph(path: Path, config) -> None:
    """Rewrite the graph at ``path`` with ONNX Runtime's fused BERT operators
    (Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization):
    534 nodes become 64. A question then encodes in 5.5 ms instead of 6.0
    (median of 600 encodes of the 40 dev questions, one thread, measured
    2026-12-02), with vectors within 1.4e-7 of the unfused graph's, padding
    included. ``opt_level=0``: the fusions alone (2 s); ONNX Runtime optimises
    the rest when it loads the graph."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(path), model_type="bert", opt_level=0,
                                     num_heads=int(config.num_attention_heads),
                                     hidden_size=int(config.hidden_size))
    fused.save_model_to_file(str(path))


def _write_tokenizer(model, weights: Path, path: Path) -> None:
    source = weights / TOKENIZER_FILE
    if source.is_file():
        shutil.copyfile(source, path)
    else:  # a folder with only vocab.txt: save the fast tokenizer transformers built from it
        model.tokenizer.backend_tokenizer.save(str(path))


def _write_meta(tmp: Path, model_name: str, model, fingerprint: str) -> None:
    import onnx
    import onnxruntime
    import sentence_transformers
    import torch
    import transformers

    pad_token = model.tokenizer.pad_token
    meta = {
        "format": EXPORT_FORMAT,
        "model_name": model_name,
        "dim": int(model.get_embedding_dimension()),
        "max_seq_length": int(model.max_seq_length),
        "pooling": "mean",
        "normalize": True,
        "pad_token": pad_token,
        "pad_id": int(model.tokenizer.pad_token_id),
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "weights_fingerprint": fingerprint,
        "files": {name: (tmp / name).stat().st_size for name in (MODEL_FILE, TOKENIZER_FILE)},
        "exporter": "torch.onnx.export(dynamo=False), then onnxruntime.transformers' BERT fusion",
        "versions": {"opset": OPSET, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _check_export(tmp: Path, model) -> None:
    """Refuse an export whose vectors differ from sentence-transformers' own."""
    texts = list(_CHECK_TEXTS)
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)
    got = OnnxEncoder(tmp).embed_texts(texts)
    cosines = np.sum(got * expected, axis=1)
    if cosines.min() < MIN_EXPORT_COSINE:
        raise RuntimeError(f"the ONNX export disagrees with sentence-transformers: "
                           f"cosine {cosines.min():.6f} < {MIN_EXPORT_COSINE}")


# ---------------------------------------------------------------- encoding

class OnnxEncoder:
    """An exported model, loaded on first use: ``embed_texts`` like ``Embedder``'s.

    ``threads`` is ONNX Runtime's intra-op thread count; 1 (the default) keeps
    a single query fast while another process holds the machine's other core.
    Raises ``ValueError`` when ``folder`` holds no complete export (use
    :func:`load_encoder` to get ``None`` instead).

    >>> OnnxEncoder(folder).embed_texts(["hello", "world"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, folder: Path, *, threads: int = 1, batch_size: int = BATCH_SIZE) -> None:
        _check_positive("threads", threads)
        _check_positive("batch_size", batch_size)
        self.folder = Path(folder)
        self.threads = threads
        self.batch_size = batch_size
        meta, problem = _read_meta(self.folder)
        if meta is None:
            raise ValueError(f"no complete ONNX export in {str(self.folder)!r}: {problem}")
        self.meta = meta
        self.name: str = meta["model_name"]
        self.dim: int = meta["dim"]
        self.max_seq_length: int = meta["max_seq_length"]
        self._session = None
        self._tokenizer = None

    def __repr__(self) -> str:
        return f"OnnxEncoder({str(self.folder)!r}, name={self.name!r}, threads={self.threads})"

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle workers would otherwise spin and steal the other core from
            # a concurrent process on this 2-core machine (threads > 1 only).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3  # errors only
            self._session = ort.InferenceSession(str(self.folder / MODEL_FILE), options,
                                                 providers=["CPUExecutionProvider"])
        return self._session

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
            # MiniLM's tokenizer.json truncates *and pads* to 128 pieces; the
            # model reads max_seq_length (256), and we pad each batch ourselves.
            tokenizer.enable_truncation(max_length=self.max_seq_length, strategy="longest_first")
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return self._tokenizer

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``: a C-contiguous float32 array of shape ``(len(texts), dim)``
        whose rows have unit L2 norm (so inner product == cosine similarity).
        An empty list gives shape ``(0, dim)``; a bare string is a ``TypeError``."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings, not a string")
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"embed_texts takes strings, got {type(text).__name__}: {text!r:.50}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts) if len(texts) > 1 \
            else [self.tokenizer.encode(texts[0])]
        pad_id = self.meta["pad_id"]
        for rows in self._batches([len(e.ids) for e in encodings]):
            width = len(encodings[rows[0]].ids)
            input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids = encodings[i].ids
                input_ids[r, :len(ids)] = ids
                attention_mask[r, :len(ids)] = 1
            (vectors,) = self.session.run(
                [OUTPUT_NAME], {"input_ids": input_ids, "attention_mask": attention_mask})
            out[rows] = vectors
        return out

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Row numbers grouped into batches, longest texts first.

        A batch runs at the width of its longest text, and compute grows with
        width (a 256-piece row costs ~8x a 32-piece one), so a batch also ends
        where the next text is much shorter than the batch's first: padding
        then wastes at most a quarter of a row. Short texts, whose cost is
        mostly per call, share batches freely.
        """
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        for i in order:
            if batches and len(batches[-1]) < self.batch_size and (
                    lengths[i] * 4 >= lengths[batches[-1][0]] * 3
                    or lengths[batches[-1][0]] <= _SHORT):
                batches[-1].append(i)
            else:
                batches.append([i])
        return batches


def load_encoder(folder: Path, *, threads: int = 1) -> OnnxEncoder | None:
    """The encoder of the export in ``folder``, or ``None`` when there is no
    complete, readable one there (missing folder or file, unreadable or
    foreign ``meta.json``, a file of the wrong size); the reason is logged at
    debug level. Only ``meta.json`` is read now; the model loads on first use.

    >>> load_encoder(tmp_path / "nothing-here") is None  # doctest: +SKIP
    True
    """
    _check_positive("threads", threads)
    meta, problem = _read_meta(Path(folder))
    if meta is None:
        log.debug("no ONNX encoder in %s: %s", folder, problem)
        return None
    return OnnxEncoder(folder, threads=threads)


def _read_meta(folder: Path) -> tuple[dict | None, str]:
    """``(meta, "")`` for a complete export, else ``(None, why not)``."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {META_FILE}"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"unreadable {META_FILE}: {e}"
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        return None, f"export format {found!r}, expected {EXPORT_FORMAT}"
    required = {"model_name": str, "dim": int, "max_seq_length": int, "pad_id": int, "files": dict}
    for key, kind in required.items():
        if not isinstance(meta.get(key), kind):
            return None, f"{META_FILE} has no valid {key!r}"
    for name in (MODEL_FILE, TOKENIZER_FILE):
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return None, f"no {name}"
        if size != meta["files"].get(name):
            return None, f"{name} has {size} bytes, {META_FILE} says {meta['files'].get(name)}"
    return meta, ""


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
