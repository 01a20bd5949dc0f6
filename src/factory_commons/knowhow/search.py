"""Hybrid search over cases: BM25 on terms and on concepts, embeddings, situational boosts.

Three rankings of all cases for a query, each scaled to [0, 1] over its best `pool` cases and
added with weights (`fusion="linear"`; reciprocal rank fusion, Cormack et al., SIGIR 2009, is
the other choice, `fusion="rrf"`):

* lexical: BM25 (Robertson and Zaragoza 2009; k1 1.2, b 0.75) over the surface terms of
  `text.terms()`: Kiwi morphemes and character bigrams;
* concept: BM25 over the thesaurus concepts only. It knows no language, so a Korean query meets
  an English case as well as a Korean one (a surface ranking favours cases in the query's
  language). The concepts related to the query's can be added at a lower weight (`related`,
  0 by default: the dev half scored best without); a query's concepts also come from the stems
  of the thesaurus' verbs and adjectives (`text.stem_concepts`, weight `stem`), whatever ending
  the query gives them;
* semantic: cosine of the query's e5 embedding with each case's stored embedding (one matrix
  product); the query and the case are embedded with their concepts' English names appended,
  which carries a Korean colloquial query towards an English case;
* situational boosts, added to the fused score of the candidates: same machine, same machine
  type, same alarm or reason code, verified, fixed (success) and recent.

The fusion and its weights (`Weights`) were chosen on the development half of our evaluation
set only (bench/knowhow.py --tune, docs/knowhow.md). BM25 is a sparse matrix of per-term
weights (scipy), so a query's BM25 is a sum of a few columns; at 100,000 cases most of a
search's time is the query's embedding and the embedding product (bench/knowhow.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy import sparse

from . import text as txt
from .cases import Case


@dataclass(frozen=True)
class Weights:
    """How the rankings are fused; chosen on the evaluation set's dev part (docs/knowhow.md)."""

    lexical: float = 0.25
    concept: float = 1.5
    semantic: float = 2.0
    related: float = 0.0  # query weight of a related concept (a found concept weighs 1); dev: 0 best
    # query weight of a concept found by its verb's or adjective's stem only (text.stem_concepts);
    # dev halves, whole and with the thesaurus forms of their queries taken out: 1 (0.5 lower)
    stem: float = 1.0
    # semantic weight for a query with fewer than `few_concepts` thesaurus concepts; the dev halves
    # of both sets scored the same with it (their queries nearly all have a concept): off
    semantic_few: float = 1.5
    few_concepts: int = 0
    rrf_k: float = 60.0  # for fusion "rrf"
    fusion: str = "linear"  # scores scaled to [0, 1] per ranking, weighted sum; or "rrf"
    pool: int = 200  # candidates taken from each ranking
    # boosts, on the fused scale (each ranking gives at most its weight); not tuned: the evaluation
    # queries carry no machine or code, so these are set by judgement, below one ranking's weight
    same_machine: float = 0.15
    same_type: float = 0.1
    # the query names the case's kind of machine (콤프, 지게차, press: a thesaurus concept of its
    # machine_type); dev halves of both sets: 0 to 0.4 lower, 0.6 to 1.5 the same
    named_type: float = 0.6
    same_code: float = 0.3
    verified: float = 0.05
    success: float = 0.05
    recent: float = 0.05  # at most, fading over a year

    def max_boost(
        self, machine: bool = True, machine_type: bool = True, code: bool = True, named: bool = True
    ) -> float:
        """All boosts together (of a search with a machine, a type, a code, a named kind as
        given): how far a case can climb."""
        return (
            self.verified
            + self.success
            + self.recent
            + (self.same_machine if machine else 0.0)
            + (self.same_type if machine_type else 0.0)
            + (self.same_code if code else 0.0)
            + (self.named_type if named else 0.0)
        )


DEFAULT_WEIGHTS = Weights()


class BM25:
    """Okapi BM25 as a sparse (documents x terms) matrix of term weights."""

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.vocab: dict[str, int] = {}
        n = len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float32, count=n)
        setdefault = self.vocab.setdefault
        flat = np.fromiter((setdefault(t, len(self.vocab)) for d in docs for t in d), dtype=np.int64)
        doc_of = np.repeat(np.arange(n, dtype=np.int64), lengths.astype(np.int64))
        pairs, tf = np.unique(doc_of * max(len(self.vocab), 1) + flat, return_counts=True)
        rows_a, cols_a = pairs // max(len(self.vocab), 1), pairs % max(len(self.vocab), 1)
        tf_a = tf.astype(np.float32)
        df = np.bincount(cols_a, minlength=len(self.vocab)).astype(np.float32)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avg = float(lengths.mean()) if n else 1.0
        norm = k1 * (1 - b + b * lengths[rows_a] / max(avg, 1e-9))
        w = idf[cols_a] * tf_a * (k1 + 1) / (tf_a + norm)
        self.matrix = sparse.csc_matrix((w, (rows_a, cols_a)), shape=(n, len(self.vocab)), dtype=np.float32)
        self.n = n

    def scores(self, query: dict[str, float]) -> np.ndarray:
        """Score of every document for weighted query terms (unknown terms count nothing)."""
        idx = [self.vocab[t] for t in query if t in self.vocab]
        if not idx:
            return np.zeros(self.n, dtype=np.float32)
        wts = np.asarray([query[t] for t in query if t in self.vocab], dtype=np.float32)
        return np.asarray(self.matrix[:, idx] @ wts).ravel()


def case_terms(case: Case) -> list[str]:
    """The terms a case is found by: its text, machine type and product."""
    parts = [case.text(), case.machine_type or "", case.product or ""]
    return txt.terms("\n".join(p for p in parts if p))


def query_terms(text: str, weights: Weights = DEFAULT_WEIGHTS) -> tuple[dict[str, float], dict[str, float]]:
    """Weighted query terms: (surface: morphemes and bigrams, concept: found 1, found by a stem
    only `stem`, related `related`)."""
    surface: dict[str, float] = {}
    concept: dict[str, float] = {}
    for t in txt.terms(text):
        target = concept if t.startswith("c:") else surface
        target[t] = target.get(t, 0.0) + 1.0
    if weights.stem:
        for c in txt.stem_concepts(text):
            concept.setdefault("c:" + c, weights.stem)
    if weights.related:
        for c in txt.related_concepts(txt.concepts(text)):
            concept.setdefault("c:" + c, weights.related)
    return surface, concept


#: From this many cases (None: never) the semantic ranking scores the cases' vectors kept in
#: float16 in a faiss flat index (`faiss.IndexScalarQuantizer`, QT_fp16, inner product): still every
#: case scored, no approximation but the rounding to float16, half the memory of float32 read per
#: search, and the `pool` best kept in faiss' own heap instead of sorting every case's score. At
#: 100,000 cases it took 2.9 ms of CPU (p95 3.6) against 8.5 ms (p95 27) for numpy's float32
#: product and selection, whose BLAS threads also keep spinning after it; its top 200 shared 99.9 %
#: of the exact top 200, and the hybrid's top 10 were the same cases (docs/knowhow.md, "Figures").
#: Below it the float32 product is exact and already takes under 2 ms. An approximate graph (faiss HNSW) was faster per
#: search (0.6-1.8 ms) but took 70-110 s to build at 100,000 cases (the index is built again when
#: cases change) and found only 78-97 % of the exact top 200.
DENSE_INDEX_MIN: int | None = 10_000


def _dense_threads() -> int:
    import os

    return max(1, int(os.environ.get("FC_KNOWHOW_THREADS", "1")))


def fp16_index(embeddings: np.ndarray):
    """A faiss flat inner-product index of the vectors stored in float16 (exact scan)."""
    import faiss

    faiss.omp_set_num_threads(_dense_threads())
    index = faiss.IndexScalarQuantizer(
        embeddings.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    return index


#: How much of a text's vector comes from its thesaurus concepts: the mean of the concepts' name
#: embeddings ("leak", "seal"), times this, is added to the text's own embedding before it is
#: normalised. Chosen on the dev halves of both evaluation sets (0.5 to 3 tried); it replaced
#: appending the concept names to the text, which scored lower and made the text longer to embed.
#: Cases are embedded with it when added: a change needs the cases embedded again.
CONCEPT_MIX = 1.5


#: A query's concepts found by a verb's or adjective's stem only (`text.stem_concepts`: 고였더라고요
#: -> leak) are mixed into its vector too. Chosen on the dev halves of both sets, whole and with the
#: thesaurus forms of their queries taken out (bench/knowhow.py --ablate): the same whole, higher
#: without the forms. Cases are not matched by stems (written in technical words; no re-embedding).
QUERY_STEMS = True


def semantic_query_text(text: str) -> str:
    """The query as given to the embedding model (its concepts are mixed in as vectors)."""
    return text


def passage_text(case: Case) -> str:
    """A case as given to the embedding model: its title and symptom (what a query describes).
    The cause and action were left out: on the dev halves of both evaluation sets the semantic
    ranking scored higher without them, and the text is half as long to embed."""
    return " ".join(x for x in (case.title, case.symptom) if x) or case.embed_text()


def mix_concepts(raw: np.ndarray, texts: list[str], query: bool) -> np.ndarray:
    """Each raw embedding plus `CONCEPT_MIX` times the mean of its text's concept vectors, unit length."""
    from .embed import concept_vector

    out = np.array(raw, dtype=np.float32, copy=True).reshape(len(texts), -1)
    for i, t in enumerate(texts):
        found = txt.concepts(t)
        if query and QUERY_STEMS:
            found = found + list(txt.stem_concepts(t))
        if found and CONCEPT_MIX:
            out[i] += CONCEPT_MIX * np.mean([concept_vector(c, query) for c in found], axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


#: how a case's stored vector is made; change it when `passage_text` or `mix_concepts` change
VECTOR_RECIPE = "e5-small-q4 passage(title+symptom) + concepts"


@functools.lru_cache(maxsize=1)
def vectors_fingerprint() -> str:
    """What stored case vectors depend on: the recipe, `CONCEPT_MIX` and the thesaurus (a shop's
    own words added to it change the vectors too). `KnowhowDB` re-embeds cases made otherwise."""
    import hashlib

    from .thesaurus import CONCEPTS

    body = repr((VECTOR_RECIPE, CONCEPT_MIX, sorted(CONCEPTS.items())))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


#: bump when `case_terms` or `text.terms` make other terms from the same text
TERMS_RECIPE = 1


def terms_fingerprint() -> str:
    """What a case's stored search terms depend on besides its own text: the recipe, the
    thesaurus (with a shop's own words), Kiwi's version and options (`KnowhowDB.index`)."""
    import hashlib

    from .thesaurus import CONCEPTS

    try:
        from kiwipiepy import __version__ as kiwi_version
    except ImportError:  # pragma: no cover - kiwipiepy is a dependency
        kiwi_version = "?"
    body = repr((TERMS_RECIPE, kiwi_version, sorted(txt.KIWI_OPTIONS.items()), sorted(CONCEPTS.items())))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def terms_key(case: Case, fingerprint: str) -> str:
    """The key a case's stored terms are valid for: the fingerprint and the text they came from."""
    import hashlib

    body = "\x1f".join((fingerprint, case.text(), case.machine_type or "", case.product or ""))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:24]


def case_vectors(cases: list[Case]) -> np.ndarray:
    """(len(cases), DIM) unit vectors stored with the cases (`KnowhowDB.add_many`)."""
    from .embed import embed_passages

    texts = [passage_text(c) for c in cases]
    return mix_concepts(embed_passages(texts), texts, query=False)


@functools.lru_cache(maxsize=512)
def query_vector(text: str) -> np.ndarray:
    """The query's unit vector (read-only). The last 512 queries are kept: a phone search is
    often repeated or refined, and suggestions repeat an alarm's text (`query_vector.cache_clear()`)."""
    from .embed import embed_query

    vec = mix_concepts(embed_query(semantic_query_text(text))[None, :], [text], query=True)[0]
    vec.setflags(write=False)
    return vec


@functools.lru_cache(maxsize=4096)
def _type_concepts(machine_type: str) -> frozenset[str]:
    """The thesaurus concepts of a machine type's name (compressor, 콤프레서 -> compressor)."""
    return frozenset(txt.concepts(machine_type))


def _top(ids: np.ndarray, scores: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """The `pool` best (case number, score) with a positive score, best first (ties by number)."""
    keep = scores > 0
    ids, scores = ids[keep], scores[keep]
    if len(ids) > pool:
        part = np.argpartition(-scores, pool - 1)[:pool]
        ids, scores = ids[part], scores[part]
    order = np.lexsort((ids, -scores))
    return ids[order], scores[order]


@dataclass
class Hit:
    """One found case, its fused score and what made it (per ranking and boost)."""

    case: Case
    score: float
    why: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        c = self.case
        return {
            "ref": c.ref or c.id,
            "id": c.id,
            "score": round(self.score, 6),
            "title": c.title,
            "machine": c.machine,
            "machine_type": c.machine_type,
            "verified": c.verified,
            "why": {k: round(v, 6) for k, v in self.why.items()},
        }


class CaseIndex:
    """All cases with their BM25 matrix and embedding matrix, ready to search."""

    def __init__(self, cases: list[Case], bm25: BM25, concepts: BM25, embeddings: np.ndarray):
        self.cases = cases
        self.bm25 = bm25
        self.concepts = concepts
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self._dense = None  # the float16 faiss index, from `DENSE_INDEX_MIN` cases
        if DENSE_INDEX_MIN is not None and len(self.embeddings) >= DENSE_INDEX_MIN:
            self._dense = fp16_index(self.embeddings)

    def dense_bytes(self) -> int:
        """Memory of the float16 index's vectors (0 without one)."""
        return 0 if self._dense is None else self._dense.ntotal * self._dense.code_size

    @classmethod
    def build(
        cls, cases: list[Case], embeddings: np.ndarray | None = None, terms: list[list[str]] | None = None
    ) -> CaseIndex:
        """Index cases; embeddings are computed when not given, terms too."""
        if embeddings is None:
            embeddings = case_vectors(cases)
        if terms is None:
            terms = [case_terms(c) for c in cases]
        surface = [[t for t in ts if not t.startswith("c:")] for ts in terms]
        concepts = [[t for t in ts if t.startswith("c:")] for ts in terms]
        return cls(cases, BM25(surface), BM25(concepts), embeddings)

    def __len__(self) -> int:
        return len(self.cases)

    # -- the rankings ----------------------------------------------------------------------
    def lexical_scores(self, text: str, weights: Weights = DEFAULT_WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
        """BM25 of the surface terms and of the concepts."""
        surface, concept = query_terms(text, weights)
        return self.bm25.scores(surface), self.concepts.scores(concept)

    def semantic_scores(self, text: str, query_vec: np.ndarray | None = None) -> np.ndarray:
        """Cosine of the query with every case, shifted to [0, 2] (every case has a rank)."""
        if query_vec is None:
            query_vec = query_vector(text)
        if not len(self.cases):
            return np.zeros(0, dtype=np.float32)
        scores = self.embeddings @ query_vec
        scores += 1.0
        return scores

    def semantic_candidates(
        self, text: str, query_vec: np.ndarray | None = None, k: int = DEFAULT_WEIGHTS.pool
    ) -> tuple[np.ndarray, np.ndarray]:
        """(case numbers, shifted cosines) of the cases the semantic ranking considers: all of
        them (float32 product), or from `DENSE_INDEX_MIN` cases the `k` best of the float16 index."""
        if query_vec is None:
            query_vec = query_vector(text)
        if self._dense is None:
            return np.arange(len(self.cases)), self.semantic_scores(text, query_vec)
        q = np.ascontiguousarray(np.asarray(query_vec, dtype=np.float32).reshape(1, -1))
        scores, ids = self._dense.search(q, min(k, len(self.cases)))
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep] + np.float32(1.0)

    def _boost(
        self, case: Case, w: Weights, machine, machine_type, code, now, named: frozenset[str] = frozenset()
    ) -> dict[str, float]:
        b: dict[str, float] = {}
        if named and w.named_type and named & _type_concepts(case.machine_type or ""):
            b["named_type"] = w.named_type
        if machine and case.machine == machine:
            b["same_machine"] = w.same_machine
        if machine_type and case.machine_type and case.machine_type.lower() == machine_type.lower():
            b["same_type"] = w.same_type
        if code and code in (case.alarm_code, case.reason_code):
            b["same_code"] = w.same_code
        if case.verified:
            b["verified"] = w.verified
        if case.success:
            b["success"] = w.success
        when = case.occurred or case.created
        if when is not None and w.recent:
            age_days = (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds() / 86400
            b["recent"] = w.recent * max(0.0, 1.0 - max(age_days, 0.0) / 365.0)
        return b

    def search(
        self,
        text: str,
        limit: int = 10,
        *,
        machine: str | None = None,
        machine_type: str | None = None,
        code: str | None = None,
        firm: str | None = None,
        weights: Weights = DEFAULT_WEIGHTS,
        mode: str = "hybrid",
        query_vec: np.ndarray | None = None,
        now: datetime | None = None,
    ) -> list[Hit]:
        """Best cases for `text`, best first. `mode`: hybrid, lexical or semantic (the latter two
        without boosts, for the benchmark). `code` is the alarm or reason code of the event."""
        if not len(self.cases) or not text.strip():
            return []
        now = now or datetime.now(UTC)
        named: frozenset[str] = frozenset()
        channels: dict[str, tuple[float, np.ndarray]] = {}
        sem_w = weights.semantic
        if mode in ("hybrid", "lexical"):
            surface_q, concept_q = query_terms(text, weights)
            for name, w, bm, q in (
                ("lexical", weights.lexical, self.bm25, surface_q),
                ("concept", weights.concept, self.concepts, concept_q),
            ):
                scores = bm.scores(q)
                ids = np.flatnonzero(scores > 0)
                channels[name] = (w, (ids, scores[ids]))
            found = sum(1 for v in concept_q.values() if v >= 1.0)
            if mode == "hybrid":  # a kind of machine named in the query's words, not by a stem
                stems = set(txt.stem_concepts(text)) if weights.stem else set()
                named = frozenset(c[2:] for c, v in concept_q.items() if v >= 1.0 and c[2:] not in stems)
            if found < weights.few_concepts:
                # the thesaurus knows few of the query's words: lean on the embeddings
                sem_w = weights.semantic_few
        if mode in ("hybrid", "semantic"):
            channels["semantic"] = (sem_w, self.semantic_candidates(text, query_vec, weights.pool))
        fused: dict[int, dict[str, float]] = {}
        for name, (w, (ids, scores)) in channels.items():
            top_ids, top_scores = _top(ids, scores, weights.pool)
            if not len(top_ids):
                continue
            if weights.fusion == "rrf":
                parts = w / (weights.rrf_k + np.arange(1, len(top_ids) + 1))
            else:  # linear: each channel's scores of its pool scaled to [0, 1]
                # BM25 is 0 for no match: divided by the best, a weak match keeps a little; the
                # cosines of a whole collection lie close together: spread from the pool's lowest
                top = float(top_scores[0])
                low = float(top_scores[-1]) if name == "semantic" and len(top_ids) > 1 else 0.0
                parts = w * (top_scores - low) / ((top - low) or 1.0)
            for i, v in zip(top_ids.tolist(), parts.tolist(), strict=True):
                fused.setdefault(i, {})[name] = v
        hits = []
        # a case no ranking gave anything (e.g. the lowest of the semantic pool) is not a hit
        base = {
            i: total
            for i, parts in fused.items()
            if (total := sum(parts.values())) > 0 and (firm is None or self.cases[i].firm == firm)
        }
        if mode == "hybrid" and len(base) > limit:
            # a case more than every boost together below the limit-th best cannot reach the list
            reach = weights.max_boost(bool(machine), bool(machine_type), bool(code), bool(named))
            floor = sorted(base.values(), reverse=True)[limit - 1] - reach
            base = {i: v for i, v in base.items() if v >= floor}
        for i, score in base.items():
            case, parts = self.cases[i], fused[i]
            if mode == "hybrid":
                boost = self._boost(case, weights, machine, machine_type, code, now, named)
                parts.update(boost)
                score += sum(boost.values())
            hits.append(Hit(case, score, parts))
        hits.sort(key=lambda h: (-h.score, h.case.id))
        return hits[:limit]
