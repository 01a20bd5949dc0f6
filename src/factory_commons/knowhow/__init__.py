"""Know-how: shop-floor cases (symptom, cause, action) captured when a stop or alarm ends, kept
beside the store, and found again in Korean or English, offline.

* `cases.py`: the `Case` model and the context captured from the store (`CaseContext`);
* `db.py`: where cases live (`<store>.knowhow.sqlite`, or the PostgreSQL schema
  `<schema>_knowhow`), with their embeddings;
* `files.py`: import from CSV (UTF-8 or CP949), Excel and JSONL keeping `ref`; export to JSONL;
* `text.py`, `thesaurus.py`, `embed.py`, `search.py`: the hybrid search (BM25 over morphemes,
  character bigrams and thesaurus concepts; multilingual-e5-small embeddings; situational boosts;
  reciprocal rank fusion);
* `context.py`, `suggest.py`: the context of a stop or alarm and the likeliest causes and
  actions proposed when it closes;
* `metrics.py`: codification metrics;
* `cli.py`: `factory-commons knowhow import|export|list|show|search|verify`.
"""

from __future__ import annotations

from .cases import Case, CaseContext
from .db import KnowhowDB, default_knowhow_path, open_knowhow

__all__ = ["Case", "CaseContext", "KnowhowDB", "default_knowhow_path", "open_knowhow"]
