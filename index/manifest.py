"""The on-disk format of an index folder, and its typed manifest.

An index folder (format ``FORMAT_VERSION``) holds:

- ``manifest.json``: a ``Manifest``: format version, model, build settings,
  counts, each document's record, each file's size and checksum; written last;
- ``index.faiss``: inner product over L2-normalised chunk vectors (cosine):
  exact (``IndexFlatIP``), or HNSW over float16 vectors (``IndexHNSWSQ``) for
  large corpora;
- ``text.bin``: every document's text, UTF-8, one after another: the only
  copy of the text, so answers are cited and shown without the source files;
- ``documents.npy``, ``chunks.npy``, ``sentences.npy``: one row per
  document, chunk (row i is FAISS id i) and sentence, as fixed-width numbers:
  character offsets into the document and byte offsets into ``text.bin``
  (``index.tables``; 32-bit while ``text.bin`` is under 2 GiB), memory-mapped,
  never turned into Python objects at load;
- ``sentence_vectors.npy``: one unit vector (float16) per distinct sentence
  text; ``sentences.npy`` gives each sentence's row (``text_row``), which is
  also its row of ``analysis/``;
- ``lexical/``: the BM25 index over chunks, and ``sentence_df.json``: term
  document frequencies over sentences (for the reader's lexical match);
- ``analysis/``: each sentence's terms, typed spans, parse and constituents,
  worked out at build time (``index.analysis``), memory-mapped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.errors import IndexCorruptError, IndexNotFoundError
from index.types import Region

# Bump when the on-disk layout or the meaning of a stored field changes: an index
# of another version is rebuilt, reusing its vectors (index.build).
FORMAT_VERSION = 5
# Versions ``load_index(..., formats=READABLE_FORMATS)`` still opens, to reuse
# what they hold when rebuilding. Format 3 stores its analysis arrays all 32-
# or 64-bit (4 stores each in the narrowest type); format 4 stores the
# tables' offsets 64-bit and an HNSW index's vectors float32 (5: 32-bit
# offsets while they fit, float16 HNSW vectors).
READABLE_FORMATS = (3, 4, FORMAT_VERSION)
# The first format whose ``analysis/`` folder a rebuild can take as it is.
SAME_ANALYSIS_SINCE = 4

MANIFEST = "manifest.json"
CALIBRATION = "calibration.json"  # optional, beside the index: qa.storage writes it
# Files we write; a folder holding none of them is not ours to replace. The
# names of format 2 stay, so a folder of an older index is still recognised.
OWN_FILES = (MANIFEST, CALIBRATION, "index.faiss", "text.bin", "documents.npy", "chunks.npy",
             "sentences.npy", "sentence_vectors.npy", "sentence_df.json", "lexical", "analysis",
             "chunks.jsonl", "sentences.jsonl", "documents.jsonl")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dim: int
    normalized: bool = True


@dataclass(frozen=True)
class DocumentRecord:
    """A document as the manifest records it (its text is in ``text.bin``)."""
    doc_id: str
    title: str
    path: str
    sha256: str
    size: int
    regions: tuple[Region, ...] = ()   # pages and sections (index.formats)

    def to_dict(self) -> dict:
        out = {"doc_id": self.doc_id, "title": self.title, "path": self.path,
               "sha256": self.sha256, "size": self.size}
        if self.regions:   # written as [kind, label, start, end]: a PDF has one per page
            out["regions"] = [[r.kind, r.label, r.start, r.end] for r in self.regions]
        return out


@dataclass(frozen=True)
class Counts:
    documents: int
    chunks: int
    sentences: int
    texts: int = 0       # distinct sentence texts: rows of sentence_vectors.npy and analysis/


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says of an index. ``config`` is the build settings
    as written (``IndexConfig.to_dict()``); ``files`` maps each file's path in
    the folder to ``{"bytes", "crc32"}`` (``index.integrity``)."""
    format_version: int
    analysis: int | None
    model: ModelInfo
    faiss: str
    config: dict
    counts: Counts
    documents: tuple[DocumentRecord, ...]
    created: str = ""
    sentence_vectors: str = "float16"      # dtype of sentence_vectors.npy
    files: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["documents"] = [d.to_dict() for d in self.documents]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        """The manifest in ``data`` (parsed ``manifest.json``). Raises ``ValueError``
        naming the first field that is missing or of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("is not a JSON object")

        def get(obj, key, kind, where=""):
            value = obj.get(key) if isinstance(obj, dict) else None
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"field {where}{key!r} is missing or has the wrong type")
            return value

        model, counts = get(data, "model", dict), get(data, "counts", dict)
        documents = []
        for i, d in enumerate(get(data, "documents", list)):
            where = f"documents[{i}]."
            documents.append(DocumentRecord(
                get(d, "doc_id", str, where), get(d, "title", str, where), get(d, "path", str, where),
                get(d, "sha256", str, where), get(d, "size", int, where), _regions(d, where)))
        analysis = data.get("analysis")
        return cls(
            format_version=get(data, "format_version", int),
            analysis=analysis if isinstance(analysis, int) else None,
            model=ModelInfo(get(model, "name", str, "model."), get(model, "dim", int, "model."),
                            bool(model.get("normalized", True))),
            faiss=get(data, "faiss", str),
            config=get(data, "config", dict),
            counts=Counts(*(get(counts, k, int, "counts.") for k in ("documents", "chunks", "sentences")),
                          texts=counts.get("texts") if isinstance(counts.get("texts"), int)
                          else get(counts, "sentences", int)),
            documents=tuple(documents),
            created=str(data.get("created", "")),
            sentence_vectors=str(data.get("sentence_vectors", "float32")),
            files=data.get("files") if isinstance(data.get("files"), dict) else {},
        )

    def write(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder`` (a temporary folder being
        assembled: the manifest is its last file)."""
        (Path(folder) / MANIFEST).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False),
                                             encoding="utf-8")


def _regions(record: dict, where: str) -> tuple[Region, ...]:
    raw = record.get("regions", [])
    ok = isinstance(raw, list) and all(
        isinstance(r, list) and len(r) == 4 and r[0] in ("page", "section") and isinstance(r[1], str)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in r[2:])
        and r[2] <= r[3] for r in raw)
    if not ok:
        raise ValueError(f"field {where}'regions' has the wrong type")
    return tuple(Region(*r) for r in raw)


def read_manifest_data(folder: Path) -> dict:
    """The parsed ``manifest.json`` of ``folder``, of any format version.
    Raises ``IndexNotFoundError`` when there is none, ``IndexCorruptError``
    when it is not JSON."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(f"no index at {str(folder)!r}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"index at {str(folder)!r} is unreadable: {MANIFEST}: "
                                f"{type(exc).__name__}: {exc}") from None


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the index in ``folder``, checked, without loading the
    index. Raises ``IndexNotFoundError`` when there is none, ``IndexCorruptError``
    when it is unreadable or lacks a field."""
    data = read_manifest_data(folder)
    try:
        return Manifest.from_dict(data)
    except ValueError as exc:
        raise IndexCorruptError(f"index at {str(folder)!r} is unreadable: {MANIFEST}: "
                                f"ValueError: {exc}") from None
