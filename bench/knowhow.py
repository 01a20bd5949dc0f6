"""Know-how search benchmark: ours (hybrid) against lexical, semantic and plain bigram BM25.

    python bench/knowhow.py --data DIR [--scale 100000] [--tune]

DIR holds `cases.csv` (the columns `factory-commons knowhow import` reads: ref, machine_type,
machine, title, symptom, cause, action, lang) and `queries.csv` (`qid,query,relevant[,kind][,split]`,
`relevant` refs separated by `;`); bench/data/knowhow/README.md describes it. Queries without a
`split` count as test.

Compared in the same run on the same cases, each query searched alone (no machine or code is
given, so the situational boosts do not help anyone; a machine kind named in the query does):
- **ours**: `CaseIndex.search` (knowhow/search.py): lexical, concept and semantic rankings fused;
- **lexical**: the BM25 over morphemes, bigrams and thesaurus concepts alone;
- **semantic**: the e5 embeddings alone;
- **bm25**: plain character-bigram BM25 (k1 1.2, b 0.75) over the case text without spaces.

Scores per split (dev, test, all): MRR@10, nDCG@10 (binary gains), recall@5, and per query kind.
Then the latency: the cases perturbed into `--scale` synthetic cases (term lists with terms
dropped and other cases' terms mixed in; embeddings with noise, renormalised), every query
searched end to end four times, each time as a new query (its vector computed, the query cache
emptied); p50/p95 of the wall time and of the process' CPU time (on a shared machine the wall
time includes waiting for a core); a new case's vector (each case of the set alone); memory (the
index's arrays and the process' peak RSS). From `search.DENSE_INDEX_MIN` cases (10,000) the
vectors are scored from a float16 faiss index; `--before` times, in the same run, the method before
it (numpy's float32 product over every case) and prints how far the two agree (the semantic top
200, the hybrid top 10); `--dense-min N` sets the threshold (0: the float16 index on the evaluation
sets too, to check their scores do not change).
`--tune` searches the fusion weights on the dev split only and prints the best. `--ablate` takes
out of the thesaurus the Korean forms of the dev queries that no case has and scores the dev split
only (words the thesaurus does not know); `--no-stems` searches without the query's stem concepts.

The last line: `knowhow_mrr: <ours, test> bm25: <baseline, test>`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("FC_KNOWHOW_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from factory_commons.knowhow import search as search_module  # noqa: E402
from factory_commons.knowhow import text as txt  # noqa: E402
from factory_commons.knowhow.embed import embed_passages, embed_query  # noqa: E402
from factory_commons.knowhow.files import read_cases  # noqa: E402
from factory_commons.knowhow.search import (  # noqa: E402
    BM25,
    DEFAULT_WEIGHTS,
    CaseIndex,
    Weights,
    case_terms,
    case_vectors,
    mix_concepts,
    passage_text,
    query_vector,
    semantic_query_text,
)


def read_queries(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["relevant"] = [x.strip() for x in (r.get("relevant") or "").split(";") if x.strip()]
        r["split"] = (r.get("split") or "test").strip() or "test"
        r["kind"] = (r.get("kind") or "").strip()
    return rows


def scores_of(ranked: list[str], relevant: list[str]) -> tuple[float, float, float]:
    """MRR@10, nDCG@10 (binary gains), recall@5 of one ranking."""
    rel = set(relevant)
    mrr = next((1.0 / (i + 1) for i, r in enumerate(ranked[:10]) if r in rel), 0.0)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(ranked[:10]) if r in rel)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), 10)))
    recall = len(rel & set(ranked[:5])) / len(rel) if rel else 0.0
    return mrr, (dcg / idcg if idcg else 0.0), recall


def bigram_baseline(cases):
    bm = BM25([txt.bigrams(c.text()) for c in cases])

    def search(q: str) -> list[str]:
        s = bm.scores({b: float(n) for b, n in _count(txt.bigrams(q)).items()})
        order = np.argsort(-s, kind="stable")[:10]
        return [cases[i].ref for i in order if s[i] > 0]

    return search


def _count(items):
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def evaluate(methods: dict, queries: list[dict]) -> dict[str, dict[str, list[tuple]]]:
    """{method: {qid: (mrr, ndcg, recall)}}"""
    return {
        name: {q["qid"]: scores_of(fn(q), q["relevant"]) for q in queries} for name, fn in methods.items()
    }


def table(results, queries, group_of) -> None:
    groups = sorted({group_of(q) for q in queries})
    print(f"{'method':<10} {'group':<13} {'n':>3} {'MRR@10':>7} {'nDCG@10':>8} {'R@5':>6}")
    for name, per in results.items():
        for g in groups:
            qs = [q for q in queries if group_of(q) == g]
            arr = np.array([per[q["qid"]] for q in qs])
            print(
                f"{name:<10} {g:<13} {len(qs):>3} {arr[:, 0].mean():7.3f} {arr[:, 1].mean():8.3f} {arr[:, 2].mean():6.3f}"
            )


def mean_mrr(per: dict, queries: list[dict]) -> float:
    return float(np.mean([per[q["qid"]][0] for q in queries])) if queries else float("nan")


def tune(index: CaseIndex, dev: list[dict], qvecs: dict) -> Weights:
    """Grid over the fusion weights on the dev queries only."""
    best, best_w = -1.0, DEFAULT_WEIGHTS
    grid = [("rrf", k) for k in (10.0, 30.0, 60.0)] + [("linear", 60.0)]
    grid = itertools.product([0.5, 1.0, 1.5], [0.5, 1.0, 1.5, 2.0], [0.5, 1.0, 1.5], [0.0, 0.3, 0.6], grid)
    for lex, con, sem, rel, (fusion, k) in grid:
        w = replace(
            DEFAULT_WEIGHTS, lexical=lex, concept=con, semantic=sem, related=rel, rrf_k=k, fusion=fusion
        )
        m = float(
            np.mean(
                [
                    scores_of(
                        [h.case.ref for h in index.search(q["query"], weights=w, query_vec=qvecs[q["qid"]])],
                        q["relevant"],
                    )[0]
                    for q in dev
                ]
            )
        )
        if m > best + 1e-9:
            best, best_w = m, w
    print(f"tuned on dev ({len(dev)} queries): MRR@10 {best:.3f} with {best_w}")
    return best_w


def synthetic_index(cases, embeddings, terms, scale: int, seed: int = 7) -> CaseIndex:
    """`scale` cases made from the real ones: terms dropped and mixed, embeddings with noise."""
    rng = np.random.default_rng(seed)
    n = len(cases)
    pool = [t for ts in terms for t in ts]
    syn_cases, syn_terms = [], []
    src = rng.integers(0, n, size=scale)
    mixed = rng.choice(len(pool), size=(scale, 8))
    for j, i in enumerate(src):
        keep = rng.random(len(terms[i])) > 0.3
        syn_terms.append([t for t, k in zip(terms[i], keep, strict=True) if k] + [pool[x] for x in mixed[j]])
        syn_cases.append(cases[i].model_copy(update={"id": f"s{j}", "ref": f"S-{j}"}))
    emb = embeddings[src] + rng.normal(0, 0.05, size=(scale, embeddings.shape[1])).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    surface = [[t for t in ts if not t.startswith("c:")] for ts in syn_terms]
    concepts = [[t for t in ts if t.startswith("c:")] for ts in syn_terms]
    return CaseIndex(syn_cases, BM25(surface), BM25(concepts), emb.astype(np.float32))


def cached_embeddings(texts: list[str], query: bool, cache: Path | None) -> np.ndarray:
    """Embeddings of texts, read from / added to an .npz cache (development runs only)."""
    import hashlib

    keys = [hashlib.sha1(("q:" if query else "p:").encode() + t.encode()).hexdigest() for t in texts]
    known = dict(np.load(cache)) if cache and cache.exists() else {}
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        fresh = [embed_query(texts[i]) for i in todo] if query else embed_passages([texts[i] for i in todo])
        for i, v in zip(todo, fresh, strict=True):
            known[keys[i]] = np.asarray(v, dtype=np.float32)
        if cache:
            np.savez(cache, **known)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def vectors(texts: list[str], query: bool, cache: Path | None) -> np.ndarray:
    """The search's vectors of texts (`search.case_vectors` / `query_vector`), raw embeddings cached."""
    return mix_concepts(cached_embeddings(texts, query, cache), texts, query)


def latency(big: CaseIndex, queries: list[dict], before: bool) -> None:
    """CPU and wall time per search over `big`, each query searched as if for the first time
    (its cached vector dropped); with `before`, in the same run, the method before the float16
    index: every case scored by numpy's float32 product (the same arrays, `DENSE_INDEX_MIN` off).
    Then how far the two agree: the semantic ranking's top `pool` and the hybrid's top 10."""
    runs = {"now": big}
    exact = CaseIndex(big.cases, big.bm25, big.concepts, big.embeddings[:0])
    exact.embeddings = big.embeddings  # the same arrays, no float16 index
    if before and big._dense is not None:
        runs["before"] = exact
    times: dict[str, tuple[list, list, list]] = {name: ([], [], []) for name in runs}
    for rep in range(4):
        # the methods take turns, all queries each, in alternating order, so both meet the machine's
        # load alike (query by query would charge one method's after-effects to the other: numpy's
        # BLAS threads keep spinning for a while after its product)
        for name in list(runs)[:: 1 if rep % 2 == 0 else -1]:
            index = runs[name]
            lat, cpu, emb = times[name]
            for q in queries:
                query_vector.cache_clear()
                t, cp = time.perf_counter(), time.process_time()
                vec = query_vector(q["query"])
                emb.append(time.process_time() - cp)
                index.search(q["query"], limit=10, query_vec=vec)
                lat.append(time.perf_counter() - t)
                cpu.append(time.process_time() - cp)
    for name, index in runs.items():
        lat, cpu, emb = times[name]
        lat_ms, cpu_ms, emb_ms = np.array(lat) * 1000, np.array(cpu) * 1000, np.array(emb) * 1000
        rest = cpu_ms - emb_ms
        print(
            f"search {name:<6} over {len(index)} cases, end to end ({len(lat)} searches): "
            f"p50 {np.percentile(lat_ms, 50):.1f} ms, p95 {np.percentile(lat_ms, 95):.1f} ms wall; "
            f"CPU time p50 {np.percentile(cpu_ms, 50):.1f} ms, p95 {np.percentile(cpu_ms, 95):.1f} ms "
            f"(the query's vector p50 {np.percentile(emb_ms, 50):.1f} / p95 {np.percentile(emb_ms, 95):.1f} ms, "
            f"the rest p50 {np.percentile(rest, 50):.1f} / p95 {np.percentile(rest, 95):.1f} ms)"
        )
    if big._dense is not None:
        pool = DEFAULT_WEIGHTS.pool
        same10, over10, over_pool = 0, [], []
        for q in queries:
            vec = query_vector(q["query"])
            ids, _ = big.semantic_candidates(q["query"], vec, pool)
            full = exact.semantic_scores(q["query"], vec)
            best = np.argpartition(-full, pool - 1)[:pool]
            over_pool.append(len(set(ids.tolist()) & set(best.tolist())) / pool)
            a = [h.case.id for h in big.search(q["query"], query_vec=vec)]
            b = [h.case.id for h in exact.search(q["query"], query_vec=vec)]
            same10 += a == b
            over10.append(len(set(a) & set(b)) / max(len(b), 1))
        print(
            f"float16 index against the float32 product, {len(queries)} queries: semantic top {pool} "
            f"overlap {np.mean(over_pool):.3f} (min {np.min(over_pool):.3f}); hybrid top 10 overlap "
            f"{np.mean(over10):.3f} (min {np.min(over10):.3f}), the same 10 in the same order for {same10}"
        )


def ablate_thesaurus(cases, dev: list[dict]) -> int:
    """Take out of the thesaurus every Korean form found in a dev query and in no case's text (as
    if the thesaurus' authors had not known the queries' words); the caches built on it are
    emptied. Returns how many forms were taken out."""
    from factory_commons.knowhow import thesaurus

    queries = [txt.squeeze(q["query"]) for q in dev]
    case_text = "\n".join(txt.squeeze(c.text()) for c in cases)
    out = 0
    for concept, forms in thesaurus.CONCEPTS.items():
        drop = {
            f for f in forms if txt._HANGUL.search(f) and any(f in q for q in queries) and f not in case_text
        }
        out += len(drop)
        thesaurus.CONCEPTS[concept] = tuple(f for f in forms if f not in drop)
    for cached in (
        txt._kiwi,
        txt._matchers,
        txt._stem_index,
        txt.stem_concepts,
        search_module._type_concepts,
    ):
        cached.cache_clear()
    search_module.vectors_fingerprint.cache_clear()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "knowhow")
    ap.add_argument("--scale", type=int, default=100_000, help="synthetic cases for the latency (0: skip)")
    ap.add_argument("--tune", action="store_true", help="choose the fusion weights on the dev split")
    ap.add_argument("--cache", type=Path, default=None, help="an .npz of embeddings kept between runs")
    ap.add_argument(
        "--dense-min",
        type=int,
        default=None,
        help="use the float16 vector index from this many cases (search.DENSE_INDEX_MIN; 0: always)",
    )
    ap.add_argument(
        "--before",
        action="store_true",
        help="also time the float32 product over every case (the method before the float16 index)",
    )
    ap.add_argument(
        "--ablate",
        action="store_true",
        help="take out of the thesaurus the Korean forms found in the dev queries and in no case, "
        "and score the dev split only (how the search does on words the thesaurus does not know)",
    )
    ap.add_argument(
        "--no-stems",
        action="store_true",
        help="without the concepts a query's verb and adjective stems find (the method before them)",
    )
    args = ap.parse_args()

    if args.dense_min is not None:
        search_module.DENSE_INDEX_MIN = args.dense_min
    if args.no_stems:
        search_module.QUERY_STEMS = False
    # ids from the file's order: ties of the fused score are broken by id, and imported cases get
    # random ids, which made the scores of one run differ from the next by up to 0.01
    cases = [
        c.model_copy(update={"id": f"b{i:05d}"}) for i, c in enumerate(read_cases(args.data / "cases.csv"))
    ]
    queries = read_queries(args.data / "queries.csv")
    if args.ablate:
        queries = [q for q in queries if q["split"] == "dev"]
        print(f"ablated: {ablate_thesaurus(cases, queries)} thesaurus forms of the dev queries taken out")
    print(
        f"{len(cases)} cases, {len(queries)} queries ({sum(q['split'] == 'dev' for q in queries)} dev) from {args.data}"
    )
    t = time.perf_counter()
    embeddings = vectors([passage_text(c) for c in cases], False, args.cache)
    terms = [case_terms(c) for c in cases]
    index = CaseIndex.build(cases, embeddings, terms)
    print(f"indexed in {time.perf_counter() - t:.1f} s")
    qmat = vectors([semantic_query_text(q["query"]) for q in queries], True, args.cache)
    qvecs = {q["qid"]: v for q, v in zip(queries, qmat, strict=True)}

    weights = DEFAULT_WEIGHTS
    if args.no_stems:
        weights = replace(weights, stem=0.0)
    if args.tune:
        weights = tune(index, [q for q in queries if q["split"] == "dev"], qvecs)

    def ours(mode):
        return lambda q: [
            h.case.ref
            for h in index.search(q["query"], weights=weights, mode=mode, query_vec=qvecs[q["qid"]])
        ]

    baseline = bigram_baseline(cases)
    methods = {
        "ours": ours("hybrid"),
        "lexical": ours("lexical"),
        "semantic": ours("semantic"),
        "bm25": lambda q: baseline(q["query"]),
    }
    results = evaluate(methods, queries)
    print()
    table(results, queries, lambda q: q["split"])
    print()
    table({k: results[k] for k in ("ours", "bm25")}, queries, lambda q: q["kind"] or "-")
    print()
    test = [q for q in queries if q["split"] == "test"]
    for name, per in results.items():
        print(f"{name:<10} all {mean_mrr(per, queries):.3f}  test {mean_mrr(per, test):.3f}")
    # only the dev split's misses are shown: the test split is for scoring, not for looking at
    misses = [q for q in queries if q["split"] == "dev" and results["ours"][q["qid"]][0] < 1.0]
    print(f"\ndev queries ours did not rank first ({len(misses)}):")
    for q in misses:
        got = methods["ours"](q)[:3]
        print(f"  {q['qid']} {q['query']!r} want {q['relevant']} got {got}")

    # a new case's embedding, each alone (the concepts' name vectors are computed once a process)
    runs = {"now": lambda c: case_vectors([c])}
    for name, fn in runs.items():
        times, cpus = [], []
        for c in cases:
            t, cp = time.perf_counter(), time.process_time()
            fn(c)
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - cp)
        print(
            f"new case embedding {name:<6}: p50 {np.percentile(times, 50) * 1000:.1f} ms, "
            f"p95 {np.percentile(times, 95) * 1000:.1f} ms wall; CPU time p50 "
            f"{np.percentile(cpus, 50) * 1000:.1f} ms, p95 {np.percentile(cpus, 95) * 1000:.1f} ms"
        )

    if args.scale:
        t = time.perf_counter()
        big = synthetic_index(cases, embeddings, terms, args.scale)
        print(f"{args.scale} synthetic cases indexed in {time.perf_counter() - t:.1f} s")
        latency(big, queries, args.before)
        mats = (big.bm25.matrix, big.concepts.matrix)
        bm = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in mats)
        extra = big.dense_bytes()
        mb = (bm + big.embeddings.nbytes + extra) / 2**20
        print(
            f"index arrays {mb:.0f} MiB (BM25 {bm / 2**20:.0f} MiB, {sum(m.nnz for m in mats)} non-zeros; "
            f"vectors float32 {big.embeddings.nbytes / 2**20:.0f} MiB, float16 index {extra / 2**20:.0f} MiB)"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"knowhow_mrr: {mean_mrr(results['ours'], test):.3f} bm25: {mean_mrr(results['bm25'], test):.3f}")


if __name__ == "__main__":
    main()
