"""Milvus as the search backend (``index.backend.SearchBackend``), through
pymilvus' ``MilvusClient``: the same client talks to a ``milvus-lite server``
on a laptop and to a Milvus cluster.

An index is three collections, named after ``MilvusSettings.collection``:

- ``<name>_chunks``: one row per chunk: its vector (exact ``FLAT``/IP, so
  dense search equals the embedded index's exact search), a sparse BM25
  vector that Milvus makes from ``terms`` (our own stemmed terms,
  ``index.lexical.tokenize``, so every Milvus ranks as bm25s does), the
  document, offsets and text, and ``payload``: the chunk's sentences with
  their vectors and analysis (``index.payload``), all the reader needs;
- ``<name>_docs``: each document's record and text (in pieces under one
  field's limit), a ``started`` row written before its chunks and a
  ``done`` row written after them, and the ``#meta`` row (model, dimension,
  counts);
- ``<name>_vocab``: the sentence frequency of each term (the reader's IDF)
  and the vector of each content lemma.

``sync`` uploads what an embedded index (the local build, ``index.build``)
holds and the collection lacks, by document: documents are keyed by their
name and text's hash, rows by ids made from that key, and every write is an
upsert, so a run stopped anywhere is finished by the next one, with nothing
duplicated. ``MilvusIndex`` searches the collection; its ``reader_view``
reads answers from what Milvus returns alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from index.analysis import ANALYSIS_VERSION
from index.errors import BackendError, IndexMismatchError, IndexNotFoundError, InputError
from index.lexical import tokenize
from index.payload import PACK_VERSION, ReaderView, document_bases, pack_chunk, unpack
from index.types import Chunk, Document, Hit, Region

log = logging.getLogger(__name__)

DEFAULT_URI = "http://127.0.0.1:19530"
DEFAULT_COLLECTION = "docqa"
TOKEN_ENV = "DOCQA_MILVUS_TOKEN"       # "user:password" or an API key, never on the command line
SCHEMA_VERSION = 1
CHUNK_BITS = 20                        # a chunk id is (document number << 20) | its ordinal
UPLOAD_BATCH = 128                     # chunks per upsert
VOCAB_BATCH = 2000                     # vocabulary rows per upsert
PIECE_CHARS = 16_000                   # a document record's text per row (4 bytes a character at most)
MAX_VARCHAR = 65_535                   # Milvus' longest VARCHAR
DOCUMENT_CACHE = 16
PACK_CACHE = 4096
LEMMA_CACHE = 100_000
META = "#meta"


@dataclass(frozen=True)
class MilvusSettings:
    """Where the collection lives. ``token``: default ``$DOCQA_MILVUS_TOKEN``."""
    uri: str = DEFAULT_URI
    collection: str = DEFAULT_COLLECTION
    token: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or "://" not in self.uri:
            raise InputError(f"Milvus URI must look like http://HOST:PORT, got {self.uri!r}")
        name = self.collection
        if not isinstance(name, str) or not name or len(name) > 200 or \
                not (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) or \
                not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
            raise InputError(f"Milvus collection name must be letters, digits and '_', starting "
                             f"with a letter or '_', got {name!r}")

    @property
    def names(self) -> tuple[str, str, str]:
        """The chunks, docs and vocab collections."""
        return (f"{self.collection}_chunks", f"{self.collection}_docs", f"{self.collection}_vocab")


def encode_terms(terms: list[str]) -> str:
    """``terms`` as one string that any Milvus analyzer splits back into the
    same terms: a number's "." and "," become "d" and "c" (no word term
    holds a digit, so the mapping is one to one)."""
    return " ".join(t.replace(".", "d").replace(",", "c") for t in terms)


def document_key(doc_id: str, sha256: str, settings: str = "") -> str:
    """A document's key: its name, its text's hash and the build ``settings``
    (``build_settings``): a changed text, or chunks cut another way, make a
    new document."""
    text = f"{doc_id}\0{sha256}\0{settings}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def build_settings(index) -> str:
    """What, besides its text, decides a document's rows: the index's build
    settings (less those that only change how it is searched) and versions."""
    from index.search import SEARCH_SETTINGS

    config = {k: v for k, v in index.manifest.config.items() if k not in SEARCH_SETTINGS}
    return json.dumps([config, ANALYSIS_VERSION, PACK_VERSION], sort_keys=True)


def vocab_key(kind: str, word: str) -> str:
    """The vocabulary row of ``word``: ``kind`` ("t" for a term's frequency,
    "l" for a lemma's vector) and a hash of the word, so no word needs
    quoting in a filter and every key has one length."""
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{kind}:{digest}"


def chunk_id_base(key: str) -> int:
    """The first chunk id of the document ``key`` (40 bits of its hash, then 20 of ordinal)."""
    return int(key[:10], 16) << CHUNK_BITS


def connect(settings: MilvusSettings):
    """A ``MilvusClient`` for ``settings``; ``BackendError`` naming the URI
    when the server cannot be reached."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:   # pragma: no cover - pymilvus is in requirements.txt
        raise BackendError(f"the Milvus backend needs pymilvus ({exc})") from None
    # pymilvus logs each failed call with its traceback; a failure here becomes
    # one line (BackendError) that says the same.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    token = settings.token if settings.token is not None else os.environ.get(TOKEN_ENV, "")
    try:
        client = MilvusClient(uri=settings.uri, token=token, timeout=settings.timeout)
        client.list_collections()
    except Exception as exc:   # noqa: BLE001 - pymilvus and grpc raise many kinds
        raise BackendError(f"cannot reach Milvus at {settings.uri!r}: {_reason(exc)}") from None
    return client


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


class _Calls:
    """The client's calls, each turning a failure into one ``BackendError``
    that says what was being done (``doing``)."""

    def __init__(self, client, settings: MilvusSettings) -> None:
        self.client, self.settings = client, settings
        self._local = threading.local()   # each thread of a server says what it was doing

    @property
    def doing(self) -> str:
        return getattr(self._local, "doing", "talking to")

    @doing.setter
    def doing(self, what: str) -> None:
        self._local.doing = what

    def next_batch(self, iterator) -> list:
        """``iterator.next()`` (of ``query_iterator``), failing as the calls do."""
        return self.__getattr__("_next")(iterator)

    def __getattr__(self, name):
        method = (lambda it: it.next()) if name == "_next" else getattr(self.client, name)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except Exception as exc:   # noqa: BLE001
                raise BackendError(f"Milvus at {self.settings.uri!r} failed while {self.doing} "
                                   f"collection {self.settings.collection!r}: {_reason(exc)}") from None
        return call


def _create(db: _Calls, settings: MilvusSettings, dim: int) -> None:
    from pymilvus import DataType, Function, FunctionType

    chunks, docs, vocab = settings.names
    client = db.client
    if not client.has_collection(chunks):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("doc_key", DataType.VARCHAR, max_length=64)
        s.add_field("doc_id", DataType.VARCHAR, max_length=4096)
        s.add_field("start", DataType.INT64)
        s.add_field("end", DataType.INT64)
        s.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        s.add_field("payload", DataType.VARCHAR, max_length=MAX_VARCHAR)
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                input_field_names=["terms"], output_field_names=["sparse"]))
        ip = client.prepare_index_params()
        ip.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        ip.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75})
        db.create_collection(chunks, schema=s, index_params=ip)
    if not client.has_collection(docs):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=128)
        s.add_field("kind", DataType.VARCHAR, max_length=16)
        s.add_field("doc_key", DataType.VARCHAR, max_length=64)
        s.add_field("piece", DataType.INT64)
        s.add_field("data", DataType.VARCHAR, max_length=MAX_VARCHAR)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)   # Milvus wants one in each collection
        ip = client.prepare_index_params()
        ip.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        db.create_collection(docs, schema=s, index_params=ip)
    if not client.has_collection(vocab):
        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("kind", DataType.VARCHAR, max_length=2)    # "t": a term's df, "l": a lemma's vector
        s.add_field("df", DataType.INT64)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        ip = client.prepare_index_params()
        ip.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        db.create_collection(vocab, schema=s, index_params=ip)


def _load(db: _Calls, settings: MilvusSettings) -> None:
    """Load the collections into the server's memory (a restarted server has them released)."""
    for name in settings.names:
        if db.has_collection(name):
            db.load_collection(name)


def read_meta(db: _Calls, settings: MilvusSettings) -> dict | None:
    """The collection's ``#meta`` record, None when it has none yet."""
    rows = db.query(settings.names[1], ids=[META], output_fields=["data"])
    return json.loads(rows[0]["data"]) if rows else None


def check_meta(meta: dict, settings: MilvusSettings, model: str | None, dim: int | None) -> None:
    """``IndexMismatchError`` when the collection was made by another docqa, model or dimension."""
    where = f"Milvus collection {settings.collection!r} at {settings.uri!r}"
    if meta.get("schema") != SCHEMA_VERSION or meta.get("analysis") != ANALYSIS_VERSION or \
            meta.get("pack") != PACK_VERSION:
        raise IndexMismatchError(
            f"{where} was written by another docqa (schema {meta.get('schema')}, analysis "
            f"{meta.get('analysis')}, pack {meta.get('pack')}; this one writes {SCHEMA_VERSION}, "
            f"{ANALYSIS_VERSION}, {PACK_VERSION}): give another --milvus-collection or drop it")
    if (model is not None and meta.get("model") != model) or (dim is not None and meta.get("dim") != dim):
        raise IndexMismatchError(
            f"{where} holds vectors of {meta.get('model')!r} ({meta.get('dim')} dimensions), this "
            f"index uses {model!r} ({dim} dimensions): give another --milvus-collection or drop it")


@dataclass(frozen=True)
class SyncReport:
    added: int        # documents uploaded
    removed: int      # documents deleted
    kept: int         # documents already there
    seconds: float


def sync(index, settings: MilvusSettings, *, progress: bool = True) -> SyncReport:
    """Make the Milvus collection of ``settings`` hold exactly the documents of
    the embedded ``index``: upload those it lacks (chunk rows in batches, then
    the document's text, then its ``done`` row), delete those it has but
    ``index`` has not, and refresh the term frequencies and counts when
    anything changed. Resumable: run again after a failure and it finishes,
    writing nothing twice. Raises ``BackendError`` (one line) when the server
    cannot be reached or stops answering, ``IndexMismatchError`` when the
    collection holds another model's vectors."""
    t0 = time.perf_counter()
    db = _Calls(connect(settings), settings)
    try:
        report = _sync(db, index, settings, progress=progress, t0=t0)
    except BackendError as exc:
        raise BackendError(f"{exc}; run the same command again to resume (documents already "
                           "uploaded are kept)") from None
    log.info("Milvus collection %r at %s: %d document(s) uploaded, %d removed, %d already there "
             "(%.1f s).", settings.collection, settings.uri, report.added, report.removed,
             report.kept, report.seconds)
    return report


def _sync(db: _Calls, index, settings: MilvusSettings, *, progress: bool, t0: float) -> SyncReport:
    from tqdm.auto import tqdm

    chunks_c, docs_c, vocab_c = settings.names
    db.doing = "creating"
    meta = None
    if db.has_collection(docs_c):
        _load(db, settings)
        meta = read_meta(db, settings)
    if meta is not None:
        check_meta(meta, settings, index.model_name, index.dim)
    _create(db, settings, index.dim)
    _load(db, settings)
    if meta is None:
        meta = {"schema": SCHEMA_VERSION, "analysis": ANALYSIS_VERSION, "pack": PACK_VERSION,
                "model": index.model_name, "dim": index.dim, "documents": 0, "chunks": 0,
                "sentences": 0}
        _upsert_meta(db, settings, meta)
        db.flush(docs_c)

    db.doing = "listing the documents of"
    records = index.tables.records
    build = build_settings(index)
    wanted = {document_key(r.doc_id, r.sha256, build): row for row, r in enumerate(records)}
    rows = _query_all(db, docs_c, 'kind in ["started", "done"]', ["key", "kind", "doc_key"])
    done = {r["doc_key"] for r in rows if r["kind"] == "done"}
    present = {r["doc_key"] for r in rows}
    removed = sorted(present - set(wanted))
    db.doing = "deleting old documents from"
    for key in removed:
        db.delete(docs_c, filter=f'doc_key == "{key}" and kind == "done"')   # not whole from now on
        db.delete(chunks_c, filter=f'doc_key == "{key}"')
        db.delete(docs_c, filter=f'doc_key == "{key}"')
    todo = [key for key in wanted if key not in done]
    chunk_docs = np.asarray(index.chunks.doc_ids())
    bases = document_bases(index)
    total = int(sum(np.count_nonzero(chunk_docs == wanted[k]) for k in todo))
    with tqdm(total=total, desc="Uploading to Milvus", unit="chunk", leave=False,
              disable=not progress or not total) as bar:
        for key in todo:
            _upload_document(db, settings, index, key, wanted[key], chunk_docs, bases, bar)
    if removed or todo or meta.get("documents") != len(wanted):
        db.doing = "writing the term frequencies of"
        _write_vocab_df(db, settings, index.sentence_df)
        meta.update(documents=len(wanted), chunks=len(index.chunks), sentences=len(index.sentences),
                    updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        _upsert_meta(db, settings, meta)
    db.doing = "flushing"
    for name in settings.names:
        db.flush(name)
    return SyncReport(len(todo), len(removed), len(wanted) - len(todo), time.perf_counter() - t0)


def _upsert_meta(db: _Calls, settings: MilvusSettings, meta: dict) -> None:
    db.upsert(settings.names[1], [{"key": META, "kind": "meta", "doc_key": "", "piece": -1,
                                   "data": json.dumps(meta), "vector": [0.0, 0.0]}])


def _upload_document(db: _Calls, settings: MilvusSettings, index, key: str, row: int,
                     chunk_docs: np.ndarray, bases: np.ndarray, bar) -> None:
    chunks_c, docs_c, vocab_c = settings.names
    r = index.tables.records[row]
    db.doing = f"uploading {r.doc_id!r} to"
    db.upsert(docs_c, [{"key": f"{key}:started", "kind": "started", "doc_key": key, "piece": -1,
                        "data": "", "vector": [0.0, 0.0]}])
    ids = np.flatnonzero(chunk_docs == row)
    if len(ids) >= 1 << CHUNK_BITS:
        raise InputError(f"{r.doc_id!r} has {len(ids):,} chunks; the Milvus backend takes at most "
                         f"{(1 << CHUNK_BITS) - 1:,} per document")
    base = chunk_id_base(key)
    analysis = index.analysis
    lemmas: set[str] = set()
    for lo in range(0, len(ids), UPLOAD_BATCH):
        batch = ids[lo:lo + UPLOAD_BATCH]
        vectors = index.chunk_vectors(batch)
        out = []
        for k, (cid, vector) in enumerate(zip(batch.tolist(), vectors)):
            chunk = index.chunks[cid]
            payload = pack_chunk(index, cid, bases)
            lemmas.update(unpack(payload).lemmas)
            out.append(ChunkRow(base + lo + k, key, chunk, vector, payload))
        add_chunks(db, settings, out)
        bar.update(len(batch))
    words = sorted(lemmas)
    for lo in range(0, len(words), VOCAB_BATCH):
        db.upsert(vocab_c, [{"key": vocab_key("l", w), "kind": "l", "df": 0,
                             "vector": analysis.lemma_vector(w).tolist()} for w in words[lo:lo + VOCAB_BATCH]])
    doc = index.documents[r.doc_id]
    record = json.dumps({"doc_id": doc.doc_id, "title": doc.title, "path": doc.path,
                         "sha256": doc.sha256, "size": doc.size, "text": doc.text,
                         "regions": [[g.kind, g.label, g.start, g.end] for g in doc.regions]},
                        ensure_ascii=False)
    pieces = [record[i:i + PIECE_CHARS] for i in range(0, len(record), PIECE_CHARS)]
    for lo in range(0, len(pieces), 16):
        db.upsert(docs_c, [{"key": f"{key}:{i}", "kind": "piece", "doc_key": key, "piece": i,
                            "data": p, "vector": [0.0, 0.0]}
                           for i, p in enumerate(pieces[lo:lo + 16], start=lo)])
    # The row that says the document is whole goes last: a write is in the
    # server's log once it is acknowledged (milvus-lite's write-ahead log, a
    # cluster's message log), so a run stopped before it redoes the document.
    db.upsert(docs_c, [{"key": f"{key}:done", "kind": "done", "doc_key": key, "piece": len(pieces),
                        "data": json.dumps({"doc_id": doc.doc_id, "title": doc.title,
                                            "chunks": len(ids)}, ensure_ascii=False),
                        "vector": [0.0, 0.0]}])


@dataclass(frozen=True)
class ChunkRow:
    """One chunk as the collection stores it: its id there, its document's
    key, the chunk, its vector and its pack (``index.payload``)."""
    row_id: int
    doc_key: str
    chunk: Chunk
    vector: np.ndarray
    payload: str


def add_chunks(db: _Calls, settings: MilvusSettings, rows: list[ChunkRow]) -> None:
    """Write ``rows`` (an upsert: writing a row again replaces it). Its BM25
    vector is made by Milvus from the chunk's terms (``encode_terms``)."""
    db.upsert(settings.names[0], [
        {"id": r.row_id, "vector": np.asarray(r.vector, dtype=np.float32).tolist(),
         "terms": encode_terms(tokenize(r.chunk.text)), "doc_key": r.doc_key, "doc_id": r.chunk.doc_id,
         "start": r.chunk.start, "end": r.chunk.end, "text": r.chunk.text, "payload": r.payload}
        for r in rows])


def _write_vocab_df(db: _Calls, settings: MilvusSettings, sentence_df: Mapping[str, int]) -> None:
    vocab_c = settings.names[2]
    terms = sorted(sentence_df)
    dim = None
    for lo in range(0, len(terms), VOCAB_BATCH):
        if dim is None:
            dim = _vocab_dim(db, settings)
        zero = [0.0] * dim
        db.upsert(vocab_c, [{"key": vocab_key("t", t), "kind": "t", "df": int(sentence_df[t]), "vector": zero}
                            for t in terms[lo:lo + VOCAB_BATCH]])
    keep = {vocab_key("t", t) for t in terms}
    stale = [r["key"] for r in _query_all(db, vocab_c, 'kind == "t"', ["key"]) if r["key"] not in keep]
    for lo in range(0, len(stale), VOCAB_BATCH):
        db.delete(vocab_c, ids=stale[lo:lo + VOCAB_BATCH])


def _vocab_dim(db: _Calls, settings: MilvusSettings) -> int:
    info = db.describe_collection(settings.names[2])
    for f in info.get("fields", []):
        if f.get("name") == "vector":
            return int(f.get("params", {}).get("dim"))
    raise BackendError(f"Milvus collection {settings.names[2]!r} has no vector field")


def _query_all(db: _Calls, name: str, filter: str, fields: list[str], batch: int = 4096) -> list[dict]:
    """Every row matching ``filter``, read ``batch`` at a time (an iterator:
    Milvus caps a plain query's offset plus limit at 16,384 rows)."""
    it = db.query_iterator(name, batch_size=batch, filter=filter, output_fields=fields)
    out: list[dict] = []
    try:
        while True:
            rows = db.next_batch(it)
            if not rows:
                return out
            out.extend(rows)
    finally:
        it.close()


class _Lru:
    """A bounded cache, safe to share between the threads of a server."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key, value) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def get(self, key, default=None):
        with self._lock:
            return self._d.get(key, default)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._d


class MilvusDocuments(Mapping):
    """``{doc_id: Document}`` over the collection: the names are read once,
    a document's text when it is asked for (the last 16 are kept)."""

    def __init__(self, db: _Calls, settings: MilvusSettings) -> None:
        self._db, self._settings = db, settings
        self._cache = _Lru(DOCUMENT_CACHE)
        self.refresh()

    def refresh(self) -> None:
        """Read the list of documents again (another process may have synced)."""
        self._db.doing = "listing the documents of"
        rows = _query_all(self._db, self._settings.names[1], 'kind == "done"', ["doc_key", "data", "piece"])
        keys = {}
        for r in rows:
            keys[json.loads(r["data"])["doc_id"]] = (r["doc_key"], int(r["piece"]))
        self._keys = dict(sorted(keys.items()))

    def key_of(self, doc_id: str) -> str | None:
        """The key of the version of ``doc_id`` this process knows, None if none."""
        found = self._keys.get(doc_id)
        return found[0] if found else None

    def __getitem__(self, doc_id: str) -> Document:
        if doc_id not in self._keys:   # added since this process listed them?
            self.refresh()
        for attempt in range(2):
            key, pieces = self._keys[doc_id]
            cached = self._cache.get(doc_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            self._db.doing = f"reading {doc_id!r} from"
            rows = self._db.query(self._settings.names[1], ids=[f"{key}:{i}" for i in range(pieces)],
                                  output_fields=["piece", "data"])
            if len(rows) == pieces:
                break
            self.refresh()   # replaced by another process since it was listed?
        else:
            raise BackendError(f"Milvus collection {self._settings.collection!r} lacks part of "
                               f"{doc_id!r} ({len(rows)} of {pieces} pieces)")
        d = json.loads("".join(r["data"] for r in sorted(rows, key=lambda r: r["piece"])))
        doc = Document(d["doc_id"], d["title"], d["text"], d["path"], d["sha256"], d["size"],
                       tuple(Region(*g) for g in d["regions"]))
        self._cache.put(doc_id, (key, doc))
        return doc

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, doc_id) -> bool:
        return doc_id in self._keys


class _Chunks:
    """``len(index.chunks)`` and ``index.chunks[chunk_id]`` over the collection."""

    def __init__(self, index: "MilvusIndex", count: int) -> None:
        self._index, self._count = index, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, chunk_id: int) -> Chunk:
        found = self._index.fetch_chunks([chunk_id])
        return found[0]


class MilvusIndex:
    """A docqa collection on a Milvus server, searched as the embedded index
    is (``index.backend.SearchBackend``). ``folder``/``manifest``: the local
    build it was uploaded from, when there is one (None for a query process
    that only connects)."""

    def __init__(self, db: _Calls, settings: MilvusSettings, meta: dict, *, folder=None,
                 manifest=None) -> None:
        self._db, self.settings, self.meta = db, settings, meta
        self.model_name, self.dim = meta["model"], int(meta["dim"])
        self.folder, self.manifest = folder, manifest
        self.sentence_count = int(meta["sentences"])
        self.documents = MilvusDocuments(db, settings)
        self.chunks = _Chunks(self, int(meta["chunks"]))
        self._packs: _Lru = _Lru(PACK_CACHE)     # chunk_id -> (Chunk, Pack)
        self._lemmas: _Lru = _Lru(LEMMA_CACHE)   # lemma -> vector (a model's vectors never change)

    def refresh(self) -> None:
        """Read the counts and the list of documents again: another process
        may have synced the collection since this one opened it."""
        self._db.doing = "opening"
        meta = read_meta(self._db, self.settings) or self.meta
        self.meta, self.sentence_count = meta, int(meta["sentences"])
        self.chunks = _Chunks(self, int(meta["chunks"]))
        self.documents.refresh()

    def dense_ranking(self, query_vector: np.ndarray, top_k: int) -> list[tuple[int, float]]:
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if len(vector) != self.dim:
            raise IndexMismatchError(f"query vector has dimension {len(vector)}, the index {self.dim}")
        self._db.doing = "searching"
        found = self._db.search(self.settings.names[0], data=[vector.tolist()], anns_field="vector",
                                limit=top_k, output_fields=["id"], search_params={"metric_type": "IP"})
        return [(int(h["id"]), float(h["distance"])) for h in found[0]]

    def lexical_ranking(self, query: str, top_k: int) -> list[tuple[int, float]]:
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        terms = tokenize(query)
        if not terms:
            return []
        self._db.doing = "searching"
        found = self._db.search(self.settings.names[0], data=[encode_terms(terms)], anns_field="sparse",
                                limit=top_k, output_fields=["id"], search_params={"metric_type": "BM25"})
        # milvus-lite gives BM25 scores negated (a distance); a cluster gives them as they are.
        hits = [(int(h["id"]), abs(float(h["distance"]))) for h in found[0]]
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        ids = [int(i) for i in chunk_ids]
        self._db.doing = "reading vectors from"
        rows = {int(r["id"]): r["vector"] for r in
                self._db.query(self.settings.names[0], ids=ids, output_fields=["vector"])}
        return np.asarray([rows[i] for i in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def fetch_chunks(self, chunk_ids) -> list[Chunk]:
        ids = [int(i) for i in chunk_ids]
        self._fetch([i for i in dict.fromkeys(ids) if i not in self._packs])
        return [self._entry(i)[0] for i in ids]

    def _fetch(self, ids: list[int]) -> dict:
        """Read the rows ``ids`` (chunk and pack) into the cache; returns them."""
        found = {}
        if not ids:
            return found
        self._db.doing = "reading passages from"
        for r in self._db.query(self.settings.names[0], ids=ids,
                                output_fields=["doc_key", "doc_id", "start", "end", "text", "payload"]):
            if self.documents.key_of(r["doc_id"]) != r["doc_key"]:
                self.refresh()   # a document another process added or changed since
            chunk = Chunk(r["doc_id"], int(r["id"]), int(r["start"]), int(r["end"]), r["text"])
            try:
                pack = unpack(r["payload"])
            except ValueError as exc:
                raise BackendError(f"Milvus collection {self.settings.collection!r}: passage "
                                   f"{chunk.chunk_id} is damaged: {exc}") from None
            found[chunk.chunk_id] = (chunk, pack)
            self._packs.put(chunk.chunk_id, (chunk, pack))
        return found

    def _entry(self, chunk_id: int):
        """``(Chunk, Pack)`` of a fetched chunk (fetched again if it has left the cache)."""
        entry = self._packs.get(chunk_id)
        if entry is None:
            fetched = self._fetch([chunk_id])
            entry = fetched.get(chunk_id)
        if entry is None:
            raise BackendError(f"Milvus collection {self.settings.collection!r} has no passage {chunk_id}")
        return entry

    def reader_view(self, hits: list[Hit], words: list[str], terms: list[str]) -> ReaderView:
        self.fetch_chunks([h.chunk.chunk_id for h in hits])
        packs = {h.chunk.chunk_id: self._entry(h.chunk.chunk_id)[1] for h in hits}
        chunks = {h.chunk.chunk_id: h.chunk for h in hits}
        wanted = list(dict.fromkeys([w for p in packs.values() for w in p.lemmas] + list(words)))
        found = {w: v for w in wanted if (v := self._lemmas.get(w)) is not None}
        keys = {vocab_key("l", w): w for w in wanted if w not in found}
        keys.update({vocab_key("t", t): t for t in terms})
        df: dict[str, int] = {}
        if keys:
            self._db.doing = "reading the vocabulary of"
            for r in self._db.query(self.settings.names[2], ids=list(keys),
                                    output_fields=["kind", "df", "vector"]):
                if r["kind"] == "t":
                    df[keys[r["key"]]] = int(r["df"])
                else:   # kept for the next question too; used from ``found`` now
                    found[keys[r["key"]]] = np.asarray(r["vector"], dtype=np.float32)
                    self._lemmas.put(keys[r["key"]], found[keys[r["key"]]])
        vectors = {w: found[w] for w in wanted if w in found}
        return ReaderView(packs, chunks, lemma_vectors=vectors, sentence_df=df,
                          sentence_count=self.sentence_count, documents=self.documents, dim=self.dim)


def open_milvus(settings: MilvusSettings, *, model_name: str | None = None, dim: int | None = None,
                folder=None, manifest=None) -> MilvusIndex:
    """The collection of ``settings``, opened for search. ``IndexNotFoundError``
    when it does not exist or holds no document yet; ``IndexMismatchError``
    when it is not of ``model_name``/``dim`` (when given); ``BackendError``
    when the server cannot be reached."""
    db = _Calls(connect(settings), settings)
    db.doing = "opening"
    if not all(db.has_collection(n) for n in settings.names):
        raise IndexNotFoundError(f"no docqa collection {settings.collection!r} at {settings.uri!r}: "
                                 "build it with python -m qa index PATH ... --backend milvus")
    _load(db, settings)
    meta = read_meta(db, settings)
    if meta is None:
        raise IndexNotFoundError(f"Milvus collection {settings.collection!r} at {settings.uri!r} "
                                 "is not a docqa index (it has no #meta row)")
    check_meta(meta, settings, model_name, dim)
    return MilvusIndex(db, settings, meta, folder=folder, manifest=manifest)
