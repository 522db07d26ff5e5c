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

This module connects, makes the collections and searches them:
``MilvusIndex``, whose ``reader_view`` reads answers from what Milvus
returns alone. ``index.milvus_upload.sync`` writes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from index.analysis import ANALYSIS_VERSION
from index.errors import BackendError, IndexMismatchError, IndexNotFoundError, InputError
from index.lexical import tokenize
from index.payload import PACK_VERSION, ReaderView, unpack
from index.types import Chunk, Document, Hit, Region

log = logging.getLogger(__name__)

DEFAULT_URI = "http://127.0.0.1:19530"
DEFAULT_COLLECTION = "docqa"
TOKEN_ENV = "DOCQA_MILVUS_TOKEN"       # "user:password" or an API key, never on the command line
SCHEMA_VERSION = 1
MAX_VARCHAR = 65_535                   # Milvus' longest VARCHAR
DOCUMENT_CACHE = 16
PACK_CACHE = 4096
LEMMA_CACHE = 100_000
META = "#meta"


@dataclass(frozen=True)
class MilvusSettings:
    """Where the collection lives. ``token``: "user:password" or an API key
    (the edges read it from ``$DOCQA_MILVUS_TOKEN``: ``TOKEN_ENV``)."""
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


def vocab_key(kind: str, word: str) -> str:
    """The vocabulary row of ``word``: ``kind`` ("t" for a term's frequency,
    "l" for a lemma's vector) and a hash of the word, so no word needs
    quoting in a filter and every key has one length."""
    digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{kind}:{digest}"


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
    try:
        client = MilvusClient(uri=settings.uri, token=settings.token or "", timeout=settings.timeout)
        client.list_collections()
    except Exception as exc:   # noqa: BLE001 - pymilvus and grpc raise many kinds
        raise BackendError(f"cannot reach Milvus at {settings.uri!r}: {_reason(exc)}") from None
    return client


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


class Calls:
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


def create_collections(db: Calls, settings: MilvusSettings, dim: int) -> None:
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


def load_collections(db: Calls, settings: MilvusSettings) -> None:
    """Load the collections into the server's memory (a restarted server has them released)."""
    for name in settings.names:
        if db.has_collection(name):
            db.load_collection(name)


def read_meta(db: Calls, settings: MilvusSettings) -> dict | None:
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


def query_all(db: Calls, name: str, filter: str, fields: list[str], batch: int = 4096) -> list[dict]:
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

    def __init__(self, db: Calls, settings: MilvusSettings) -> None:
        self._db, self._settings = db, settings
        self._cache = _Lru(DOCUMENT_CACHE)
        self.refresh()

    def refresh(self) -> None:
        """Read the list of documents again (another process may have synced)."""
        self._db.doing = "listing the documents of"
        rows = query_all(self._db, self._settings.names[1], 'kind == "done"', ["doc_key", "data", "piece"])
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

    def __init__(self, db: Calls, settings: MilvusSettings, meta: dict, *, folder=None,
                 manifest=None) -> None:
        self._db, self.settings, self.meta = db, settings, meta
        self.model_name, self.dim = meta["model"], int(meta["dim"])
        self.folder, self.manifest = folder, manifest
        self.sentence_count = int(meta["sentences"])
        self.documents = MilvusDocuments(db, settings)
        self.chunks = _Chunks(self, int(meta["chunks"]))
        self._packs: _Lru = _Lru(PACK_CACHE)     # chunk_id -> (Chunk, Pack, vector)
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
                                limit=top_k, output_fields=["doc_id", "doc_key"],
                                search_params={"metric_type": "IP"})
        return [(int(h["id"]), float(h["distance"])) for h in self._whole(found[0])]

    def lexical_ranking(self, query: str, top_k: int) -> list[tuple[int, float]]:
        if top_k <= 0:
            raise ValueError(f"top_k must be > 0, got {top_k}")
        terms = tokenize(query)
        if not terms:
            return []
        self._db.doing = "searching"
        found = self._db.search(self.settings.names[0], data=[encode_terms(terms)], anns_field="sparse",
                                limit=top_k, output_fields=["doc_id", "doc_key"],
                                search_params={"metric_type": "BM25"})
        # milvus-lite gives BM25 scores negated (a distance); a cluster gives them as they are.
        hits = [(int(h["id"]), abs(float(h["distance"]))) for h in self._whole(found[0])]
        return sorted((h for h in hits if h[1] > 0), key=lambda h: (-h[1], h[0]))

    def _whole(self, hits: list[dict]) -> list[dict]:
        """The search ``hits`` of documents this process knows as whole (their
        ``done`` row written): the list is read again when a hit names a
        version it does not know (another process synced since), and a hit
        of a document still being uploaded, or being deleted, is left out."""
        def known(h) -> bool:
            entity = h.get("entity", h)
            return self.documents.key_of(entity["doc_id"]) == entity["doc_key"]

        if not all(known(h) for h in hits):
            self.refresh()
        return [h for h in hits if known(h)]

    def chunk_vectors(self, chunk_ids) -> np.ndarray:
        """Read with the chunks' packs (``qa.retrieve`` asks for the vectors of
        passages BM25 alone found, then for those passages: one round trip)."""
        vectors = [vector for _, _, vector in self._entries(chunk_ids)]
        return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), self.dim)

    def fetch_chunks(self, chunk_ids) -> list[Chunk]:
        return [chunk for chunk, _, _ in self._entries(chunk_ids)]

    def _entries(self, chunk_ids) -> list[tuple]:
        """``(Chunk, Pack, vector)`` of each of ``chunk_ids``, in order: those
        not in the cache read in one query."""
        ids = [int(i) for i in chunk_ids]
        self._fetch([i for i in dict.fromkeys(ids) if i not in self._packs])
        return [self._entry(i) for i in ids]

    def _fetch(self, ids: list[int]) -> dict:
        """Read the rows ``ids`` (chunk, pack, vector) into the cache; returns them."""
        found = {}
        if not ids:
            return found
        self._db.doing = "reading passages from"
        fields = ["doc_id", "start", "end", "text", "payload", "vector"]
        for r in self._db.query(self.settings.names[0], ids=ids, output_fields=fields):
            chunk = Chunk(r["doc_id"], int(r["id"]), int(r["start"]), int(r["end"]), r["text"])
            try:
                pack = unpack(r["payload"])
            except ValueError as exc:
                raise BackendError(f"Milvus collection {self.settings.collection!r}: passage "
                                   f"{chunk.chunk_id} is damaged: {exc}") from None
            found[chunk.chunk_id] = (chunk, pack, np.asarray(r["vector"], dtype=np.float32))
            self._packs.put(chunk.chunk_id, found[chunk.chunk_id])
        return found

    def _entry(self, chunk_id: int):
        """``(Chunk, Pack, vector)`` of a chunk (fetched again if it has left the cache)."""
        entry = self._packs.get(chunk_id)
        if entry is None:
            fetched = self._fetch([chunk_id])
            entry = fetched.get(chunk_id)
        if entry is None:
            raise BackendError(f"Milvus collection {self.settings.collection!r} has no passage {chunk_id}")
        return entry

    def reader_view(self, hits: list[Hit], words: list[str], terms: list[str]) -> ReaderView:
        ids = [h.chunk.chunk_id for h in hits]
        packs = {cid: pack for cid, (_, pack, _) in zip(ids, self._entries(ids))}
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
    db = Calls(connect(settings), settings)
    db.doing = "opening"
    if not all(db.has_collection(n) for n in settings.names):
        raise IndexNotFoundError(f"no docqa collection {settings.collection!r} at {settings.uri!r}: "
                                 "build it with python -m qa index PATH ... --backend milvus")
    load_collections(db, settings)
    meta = read_meta(db, settings)
    if meta is None:
        raise IndexNotFoundError(f"Milvus collection {settings.collection!r} at {settings.uri!r} "
                                 "is not a docqa index (it has no #meta row)")
    check_meta(meta, settings, model_name, dim)
    return MilvusIndex(db, settings, meta, folder=folder, manifest=manifest)
