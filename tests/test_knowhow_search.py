"""Know-how search internals: the float16 vector index of large collections, English concept forms
matched stemmed, concept vectors mixed into the embeddings, the named machine kind, and cases no
ranking found. The ranking's quality is measured by bench/knowhow.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from factory_commons.knowhow import search
from factory_commons.knowhow.cases import Case
from factory_commons.knowhow.search import BM25, CaseIndex
from factory_commons.knowhow.text import concepts


def _clustered(n: int, dim: int = 384, centres: int = 40, seed: int = 3) -> np.ndarray:
    """Unit vectors around a few centres, as the embeddings of one trade's cases lie."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, size=n)] + rng.normal(0, 0.25, size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _index(vectors: np.ndarray, types: list[str] | None = None) -> CaseIndex:
    n = len(vectors)
    cases = [
        Case(id=f"c{i:05d}", title=f"case {i}", machine_type=(types[i] if types else None)) for i in range(n)
    ]
    terms = [[f"m:w{i % 7}"] for i in range(n)]
    return CaseIndex(cases, BM25(terms), BM25([[] for _ in range(n)]), vectors)


def test_the_float16_index_finds_the_same_best_cases_as_the_float32_product(monkeypatch):
    monkeypatch.setattr(search, "DENSE_INDEX_MIN", 500)
    vecs = _clustered(3000)
    index = _index(vecs)
    assert index._dense is not None and index.dense_bytes() == 3000 * 384 * 2
    rng = np.random.default_rng(5)
    for _ in range(20):
        q = vecs[rng.integers(0, 3000)] + rng.normal(0, 0.3, size=384).astype(np.float32)
        q /= np.linalg.norm(q)
        ids, scores = index.semantic_candidates("", q, 300)
        exact = index.semantic_scores("", q)
        assert len(ids) == 300 and len(set(ids.tolist())) == 300
        assert np.all(np.diff(scores) <= 0)  # best first
        assert np.allclose(scores, exact[ids], atol=2e-3)  # float16 rounding only
        assert set(ids[:10].tolist()) == set(np.argsort(-exact)[:10].tolist())
        got = [int(h.case.id[1:]) for h in index.search("x", mode="semantic", query_vec=q)]
        assert set(got) == set(np.argsort(-exact)[:10].tolist())
        # in the exact order, but for cases closer than the float16 rounding
        assert np.all(np.diff(exact[got]) <= 2e-3)


def test_small_collections_are_scored_by_the_float32_product(monkeypatch):
    index = _index(_clustered(600))
    assert index._dense is None and index.dense_bytes() == 0
    ids, _ = index.semantic_candidates("", _clustered(1, seed=9)[0])
    assert len(ids) == 600  # every case scored
    monkeypatch.setattr(search, "DENSE_INDEX_MIN", None)
    assert _index(_clustered(20_000))._dense is None


def test_the_float16_index_keeps_fewer_cases_than_asked(monkeypatch):
    monkeypatch.setattr(search, "DENSE_INDEX_MIN", 0)
    index = _index(_clustered(5))
    ids, scores = index.semantic_candidates("", _clustered(1, seed=9)[0], 200)
    assert sorted(ids.tolist()) == [0, 1, 2, 3, 4] and np.all(scores >= 0)


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("Hydraulic fluid drips under the mast", "leak"),  # drips ~ drip
        ("the pump stalled and died", "no_start"),
        ("Belt sticks to the roller", "stuck"),
        ("프레스 돌릴때 끼이익 하는 소리", "noise"),
        ("찍은 제품 가장자리가 쭈글쭈글해요", "wrinkle"),
        ("드로잉 제품 주름 발생", "wrinkle"),
    ],
)
def test_thesaurus_forms(text, concept):
    assert concept in concepts(text)


def test_a_stemmed_english_form_does_not_match_inside_a_word():
    assert "leak" not in concepts("the dripless nozzle")  # a whole word, stemmed, not a prefix


def test_concepts_bring_a_colloquial_query_and_a_technical_case_together():
    """Mixed with its concepts' name vectors, 기름이 새요 moves towards an English leak case and
    away from an unrelated one (the raw embedding of a short Korean phrase knows little)."""
    from factory_commons.knowhow.embed import embed_passages, embed_query

    query = "기계 밑에 기름이 질질 새요"
    cases = ["Hydraulic oil leak at the cylinder rod seal", "Spindle bearing noise at high speed"]
    raw_q = embed_query(query)[None, :]
    raw_c = embed_passages(cases)
    mixed_q = search.mix_concepts(raw_q, [query], query=True)[0]
    mixed_c = search.mix_concepts(raw_c, cases, query=False)
    assert abs(float(np.linalg.norm(mixed_q)) - 1.0) < 1e-5
    raw_gap = float(raw_c[0] @ raw_q[0] - raw_c[1] @ raw_q[0])
    mixed_gap = float(mixed_c[0] @ mixed_q - mixed_c[1] @ mixed_q)
    assert mixed_gap > raw_gap > 0


def test_a_named_machine_kind_lifts_its_cases():
    vec = np.zeros(384, dtype=np.float32)
    vec[0] = 1.0
    cases = [
        Case(id="g", title="연삭기 진동", symptom="숫돌 떨림", machine_type="grinder"),
        Case(id="c", title="압축기 진동", symptom="본체 흔들림", machine_type="compressor"),
    ]
    index = CaseIndex.build(cases, np.stack([vec, vec]))
    got = index.search("콤프 돌면 덜덜 떨려요", query_vec=vec)
    assert got[0].case.id == "c" and got[0].why.get("named_type") == search.DEFAULT_WEIGHTS.named_type
    plain = index.search("덜덜 떨려요", query_vec=vec)
    assert all("named_type" not in h.why for h in plain)


def test_cases_no_ranking_found_are_not_hits():
    zero = np.zeros((2, 384), dtype=np.float32)
    cases = [Case(id="a", title="스핀들 알람"), Case(id="b", title="금형 마모")]
    index = CaseIndex.build(cases, zero)
    assert index.search("E-777", query_vec=np.ones(384, dtype=np.float32) / np.sqrt(384)) == []


def test_a_thesaurus_verb_is_found_with_an_ending_it_does_not_list():
    from factory_commons.knowhow.text import stem_concepts

    # 흐르 (흘러, 흐른다 are listed) with 더라: no surface form matches, the stem does
    assert "leak" not in concepts("기름이 흐르더라") and stem_concepts("기름이 흐르더라") == ("leak",)
    assert stem_concepts("화면이 자꾸 꺼지더니") == ("no_start",)
    assert stem_concepts("기계가 흔들리던데") == ()  # 흔들 is a listed form: found by `concepts`
    assert stem_concepts("새 부품에서 새던데") == ()  # no one-syllable stems (새 "new", 새다 "leak")
    assert stem_concepts("oil drips") == ()


def test_stem_concepts_weigh_on_the_query_side_only():
    surface, concept = search.query_terms("기름이 흐르더라")
    assert concept == {"c:oil": 1.0, "c:leak": search.DEFAULT_WEIGHTS.stem}
    _, plain = search.query_terms("기름이 흐르더라", search.Weights(stem=0.0))
    assert plain == {"c:oil": 1.0}
    case = Case(id="a", title="기름이 흐르더라")  # a case is matched by its listed forms only
    assert "c:leak" not in search.case_terms(case) and "c:oil" in search.case_terms(case)
