"""Writing a Milvus collection (``index.milvus``): ``sync`` uploads what an
embedded index (the local build, ``index.build``) holds and the collection
lacks, document by document. Documents are keyed by their name, their
text's hash and the build settings; rows by ids made from that key; every
write is an upsert and a document's ``done`` row goes last, so a run
stopped anywhere is finished by the next one, with nothing written twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from index.analysis import ANALYSIS_VERSION
from index.errors import BackendError, InputError
from index.lexical import tokenize
from index.milvus import (META, SCHEMA_VERSION, Calls, MilvusSettings, check_meta, connect,
                          create_collections, encode_terms, load_collections, query_all, read_meta,
                          vocab_key)
from index.payload import PACK_VERSION, document_bases, pack_chunk
from index.types import Chunk

log = logging.getLogger(__name__)

CHUNK_BITS = 20                        # a chunk id is (document number << 20) | its ordinal
UPLOAD_BATCH = 128                     # chunks per upsert
VOCAB_BATCH = 2000                     # vocabulary rows per upsert
PIECE_CHARS = 16_000                   # a document record's text per row (4 bytes a character at most)


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


def chunk_id_base(key: str) -> int:
    """The first chunk id of the document ``key`` (40 bits of its hash, then 20 of ordinal)."""
    return int(key[:10], 16) << CHUNK_BITS


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
    db = Calls(connect(settings), settings)
    try:
        report = _sync(db, index, settings, progress=progress, t0=t0)
    except BackendError as exc:
        raise BackendError(f"{exc}; run the same command again to resume (documents already "
                           "uploaded are kept)") from None
    log.info("Milvus collection %r at %s: %d document(s) uploaded, %d removed, %d already there "
             "(%.1f s).", settings.collection, settings.uri, report.added, report.removed,
             report.kept, report.seconds)
    return report


def _sync(db: Calls, index, settings: MilvusSettings, *, progress: bool, t0: float) -> SyncReport:
    from tqdm.auto import tqdm

    chunks_c, docs_c, vocab_c = settings.names
    db.doing = "creating"
    meta = None
    if db.has_collection(docs_c):
        load_collections(db, settings)
        meta = read_meta(db, settings)
    if meta is not None:
        check_meta(meta, settings, index.model_name, index.dim)
    create_collections(db, settings, index.dim)
    load_collections(db, settings)
    if meta is None:
        meta = {"schema": SCHEMA_VERSION, "analysis": ANALYSIS_VERSION, "pack": PACK_VERSION,
                "model": index.model_name, "dim": index.dim, "documents": 0, "chunks": 0,
                "sentences": 0}
        upsert_meta(db, settings, meta)
        db.flush(docs_c)

    db.doing = "listing the documents of"
    records = index.tables.records
    build = build_settings(index)
    wanted = {document_key(r.doc_id, r.sha256, build): row for row, r in enumerate(records)}
    rows = query_all(db, docs_c, 'kind in ["started", "done"]', ["key", "kind", "doc_key"])
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
        _write_vocab_df(db, settings, index.sentence_df, index.dim)
        meta.update(documents=len(wanted), chunks=len(index.chunks), sentences=len(index.sentences),
                    updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        upsert_meta(db, settings, meta)
    db.doing = "flushing"
    for name in settings.names:
        db.flush(name)
    return SyncReport(len(todo), len(removed), len(wanted) - len(todo), time.perf_counter() - t0)


def upsert_meta(db: Calls, settings: MilvusSettings, meta: dict) -> None:
    db.upsert(settings.names[1], [{"key": META, "kind": "meta", "doc_key": "", "piece": -1,
                                   "data": json.dumps(meta), "vector": [0.0, 0.0]}])


def _upload_document(db: Calls, settings: MilvusSettings, index, key: str, row: int,
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
            payload, its_lemmas = pack_chunk(index, cid, bases)
            lemmas.update(its_lemmas)
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


def add_chunks(db: Calls, settings: MilvusSettings, rows: list[ChunkRow]) -> None:
    """Write ``rows`` (an upsert: writing a row again replaces it). Its BM25
    vector is made by Milvus from the chunk's terms (``encode_terms``)."""
    db.upsert(settings.names[0], [
        {"id": r.row_id, "vector": np.asarray(r.vector, dtype=np.float32).tolist(),
         "terms": encode_terms(tokenize(r.chunk.text)), "doc_key": r.doc_key, "doc_id": r.chunk.doc_id,
         "start": r.chunk.start, "end": r.chunk.end, "text": r.chunk.text, "payload": r.payload}
        for r in rows])


def _write_vocab_df(db: Calls, settings: MilvusSettings, sentence_df: Mapping[str, int],
                    dim: int) -> None:
    vocab_c = settings.names[2]
    terms = sorted(sentence_df)
    zero = [0.0] * dim   # a term's row has no vector, but Milvus wants one in every row
    for lo in range(0, len(terms), VOCAB_BATCH):
        db.upsert(vocab_c, [{"key": vocab_key("t", t), "kind": "t", "df": int(sentence_df[t]), "vector": zero}
                            for t in terms[lo:lo + VOCAB_BATCH]])
    keep = {vocab_key("t", t) for t in terms}
    stale = [r["key"] for r in query_all(db, vocab_c, 'kind == "t"', ["key"]) if r["key"] not in keep]
    for lo in range(0, len(stale), VOCAB_BATCH):
        db.delete(vocab_c, ids=stale[lo:lo + VOCAB_BATCH])
