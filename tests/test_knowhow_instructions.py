"""Instructions (TWI Job Instruction, versioned), the machine manual (HTML, PDF), the skills matrix
with single-person tasks and training plans, and their pages with roles (issue 21, item 5)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from test_knowhow_web import PRESS, as_, plant  # noqa: F401 - the module's plant fixture

from factory_commons.knowhow import instructions as ins
from factory_commons.knowhow import skills as sk
from factory_commons.knowhow.cases import Case
from factory_commons.knowhow.db import KnowhowDB
from factory_commons.knowhow.instructions import Instruction, Step
from factory_commons.knowhow.manual import manual_html, manual_pdf
from factory_commons.server.web.knowhow import parse_steps

DIE_CHANGE = Instruction(
    firm="acme",
    task="금형 교환",
    title="프레스 금형 교환",
    machines=["press"],
    products=["P-100"],
    steps=[
        Step(important="램을 하사점에 내린다", key_points=["인칭 모드"], reasons=["금형이 떨어지지 않게"]),
        Step(important="클램프를 푼다", key_points=["대각선 순서로", "<b>손 조심</b>"], reasons=["휨 방지"]),
    ],
)


def test_instructions_are_versioned_and_stay_in_their_firm():
    db = KnowhowDB()
    first = ins.save(db, DIE_CHANGE)
    assert first.version == 1
    changed = first.model_copy(update={"steps": [*first.steps, Step(important="시운전")]})
    second = ins.save(db, changed)
    assert second.version == 2 and second.id == first.id
    assert [v.version for v in ins.history(db, first.id)] == [1, 2]
    assert len(ins.get(db, first.id).steps) == 3 and len(ins.get(db, first.id, 1).steps) == 2
    assert [i.version for i in ins.latest(db, "acme")] == [2] and ins.latest(db, "beta") == []
    assert ins.for_machine(db, PRESS, "press", "acme")[0].id == first.id
    assert ins.for_machine(db, PRESS, "cnc", "acme") == []
    assert ins.per_product(db, "acme") == {"P-100": 1}
    with pytest.raises(KeyError):  # another firm cannot add a version to it
        ins.save(db, changed.model_copy(update={"firm": "beta"}))


def test_a_step_needs_its_words_and_no_more_reasons_than_key_points():
    with pytest.raises(ValidationError, match="important"):
        Step(important="")
    with pytest.raises(ValidationError, match="reasons"):
        Step(important="x", key_points=["a"], reasons=["1", "2"])
    with pytest.raises(ValidationError, match="steps"):
        Instruction(task="t", steps=[])
    got = parse_steps("램을 내린다 | 인칭 모드; 천천히 | 낙하 방지\n\n클램프 해제")
    assert (
        got[0].key_points == ["인칭 모드", "천천히"]
        and got[0].reasons == ["낙하 방지"]
        and got[1].key_points == []
    )
    with pytest.raises(ValueError, match="steps: kh_bad_step"):
        parse_steps("a | b | 1; 2")


def test_manual_html_escapes_and_pdf_prints_korean():
    case = Case(
        firm="acme",
        title="유압 누유",
        symptom="바닥에 기름",
        cause="피팅 풀림",
        action="재조임",
        verified=True,
    )
    html = manual_html(PRESS, "1호 프레스", [DIE_CHANGE], [case], "ko", date(2026, 11, 18))
    assert "프레스 금형 교환" in html and "피팅 풀림" in html and "급소" in html
    assert "<b>손 조심</b>" not in html and "&lt;b&gt;손 조심" in html
    try:
        pdf = manual_pdf(PRESS, "1호 프레스", [DIE_CHANGE], [case], "ko", date(2026, 11, 18))
    except RuntimeError as e:  # region.report_pdf.FontMissing
        pytest.skip(str(e))
    assert pdf.startswith(b"%PDF") and b"NotoSansCJK" in pdf.replace(b"-", b"")
    pypdf = pytest.importorskip("pypdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")
    assert "금형" in text and "피팅" in text


def test_skills_matrix_single_person_tasks_and_training_plan():
    db = KnowhowDB()
    d = date(2026, 11, 1)
    saved = ins.save(db, DIE_CHANGE)
    case = db.add(
        Case(
            firm="acme", machine=PRESS, machine_type="press", cause="c", action="a", title="t", verified=True
        )
    )
    sk.sign_off(db, "acme", "김반장", "금형 교환", "O", "공장장", d)
    sk.sign_off(db, "acme", "이사원", "금형 교환", "L", "김반장", d)
    sk.sign_off(db, "acme", "이사원", "용접", "U", "김반장", d)
    sk.sign_off(db, "acme", "박사원", "용접", "o", "김반장", d)
    assert sk.single_person_tasks(db, "acme") == {"금형 교환": "김반장"}
    plan = {t.task: t for t in sk.training_plan(db, "acme")}
    assert set(plan) == {"금형 교환"}
    assert plan["금형 교환"].holders == ["김반장"] and sorted(plan["금형 교환"].learners) == [
        "박사원",
        "이사원",
    ]
    assert plan["금형 교환"].instructions == [saved.id] and plan["금형 교환"].cases == [case.id]
    # a later sign-off replaces the level; then two can do it and the plan is empty
    sk.sign_off(db, "acme", "이사원", "금형 교환", "U", "김반장", date(2026, 11, 15))
    assert sk.single_person_tasks(db, "acme") == {} and sk.training_plan(db, "acme") == []
    people, tasks, cells = sk.matrix(db, "acme")
    assert cells[("이사원", "금형 교환")].signed_on == date(2026, 11, 15) and sk.skills(db, "beta") == []
    for bad, field in (("X", "level"), ("", "level")):
        with pytest.raises(sk.SkillError, match=field):
            sk.sign_off(db, "acme", "a", "t", bad, "b", d)
    with pytest.raises(sk.SkillError, match="signed_by"):
        sk.sign_off(db, "acme", "김반장", "용접", "U", "김반장", d)


def test_pages_instructions_manual_skills_metrics_and_roles(plant):  # noqa: F811
    op = as_(plant, "operator")
    form = {
        "csrf_token": op.cookies.get("fc_csrf"),
        "task": "금형 교환",
        "title": "금형 교환 (1호기)",
        "machines": "press",
        "products": "P-100",
        "steps": "램을 내린다 | 인칭 모드 | 낙하 방지\n클램프 해제 | 대각선 순서",
    }
    r = op.post("/knowhow/instructions", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?ok=1"), r.headers.get("location")
    iid = r.headers["location"].split("/")[3].split("?")[0]
    assert "인칭 모드" in op.get(f"/knowhow/instructions/{iid}").text
    bad = op.post("/knowhow/instructions", data={**form, "steps": "a | b | 1; 2"}, follow_redirects=False)
    assert "err=steps" in bad.headers["location"]
    html = op.get(f"/knowhow/manual/{PRESS}")
    assert html.status_code == 200 and "금형 교환 (1호기)" in html.text
    pdf = op.get(f"/knowhow/manual/{PRESS}", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    beta = as_(plant, "owner", "beta")
    assert beta.get(f"/knowhow/instructions/{iid}").status_code == 404
    assert beta.get(f"/knowhow/manual/{PRESS}").status_code == 404
    # skills: an operator reads the matrix but may not sign off; an engineer may
    sign = {"csrf_token": op.cookies.get("fc_csrf"), "person": "이사원", "task": "금형 교환", "level": "L"}
    assert op.post("/knowhow/skills", data=sign).status_code == 403
    eng = as_(plant, "engineer")
    sign["csrf_token"] = eng.cookies.get("fc_csrf")
    assert eng.post("/knowhow/skills", data=sign, follow_redirects=False).status_code == 303
    assert (
        "err=level"
        in eng.post("/knowhow/skills", data={**sign, "level": "Z"}, follow_redirects=False).headers[
            "location"
        ]
    )
    sk.sign_off(plant["db"], "acme", "김반장", "금형 교환", "O", "공장장", date(2026, 11, 1))
    page = op.get("/knowhow/skills").text
    assert 'id="kh-single"' in page and "김반장" in page and "이사원" in page
    metrics = op.get("/knowhow/metrics")
    assert metrics.status_code == 200 and "acme/s1/a1/l1" in metrics.text and "P-100" in metrics.text
    analyst = as_(plant, "regional_analyst")
    assert analyst.get("/knowhow/skills").status_code == 403
    assert isinstance(op, TestClient)
