"""A shop's own CP949 log in a shape the docs do not show verbatim (collect/files_guess.py).

A title row, Korean headers, dates like 2026.11.03 beside start times, durations in minutes,
bare machine numbers under 호기, a remarks column (비고) holding the stop reasons and a
production column (생산량) beside a scrap column. The guess must import it right, say why 비고
is left out (not "the name says 'ignore'"), say that 생산량 is read as good parts, and give
the hand-computed availability once 비고 is made the reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from factory_commons.collect.files import import_file
from factory_commons.collect.files_guess import guess_mapping, with_roles
from factory_commons.collect.files_mapping import parse_mapping
from factory_commons.kpi import compute_kpis
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
ROWS = [
    ("2026.11.03", "1", "08:00", 120, "가동", "", "P-100", 270, 6),
    ("2026.11.03", "1", "10:00", 20, "고장", "스핀들 알람", "P-100", 0, 0),
    ("2026.11.03", "1", "10:20", 100, "가동", "", "P-100", 220, 2),
    ("2026.11.03", "1", "12:00", 60, "점심", "", "", 0, 0),
    ("2026.11.03", "1", "13:00", 180, "가동", "", "P-200", 330, 4),
    ("2026.11.03", "1", "16:00", 30, "금형교체", "", "P-200", 0, 0),
    ("2026.11.03", "1", "16:30", 90, "가동", "", "P-200", 170, 1),
    ("2026.11.03", "2", "08:00", 240, "가동", "", "P-200", 420, 10),
    ("2026.11.03", "2", "12:00", 60, "점심", "", "", 0, 0),
    ("2026.11.03", "2", "13:00", 60, "대기", "자재 대기", "", 0, 0),
    ("2026.11.03", "2", "14:00", 240, "가동", "", "P-200", 440, 5),
]


def _write(tmp_path: Path) -> Path:
    lines = [
        "한빛정밀 가공반 설비 가동 일지 (2026년 11월)",
        "",
        "작업일,호기,시작시각,소요(분),상태,비고,품번,생산량,불량수",
    ]
    lines += [",".join(str(x) for x in r) for r in ROWS]
    path = tmp_path / "가동일지_11월.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp949"))
    return path


def test_remarks_and_production_columns_are_explained(tmp_path):
    path = _write(tmp_path)
    proposal = guess_mapping(path)
    m = proposal.mapping
    assert (m["header_row"], m["date"], m["duration_unit"], m["encoding"]) == (3, "작업일", "min", "cp949")
    why = {c.name: (c.role, c.why) for c in proposal.columns}
    # the Korean half names the role in Korean, the English half by its code
    ko, en = why["작업일"][1].split(" / ")
    assert "'일자'" in ko and "'date'" not in ko and "'date'" in en
    role, text = why["비고"]
    assert role == "ignore"
    assert "'ignore'" not in text and "reason" in text, text
    assert why["생산량"][0] == "good"
    said = [n for n in proposal.notes if "'생산량'" in n and "'불량수'" in n]
    assert said, proposal.notes
    # the same words stand in the TOML just above the column they are about
    toml = proposal.toml
    above = toml[: toml.index('[columns."생산량"]')].rstrip().splitlines()[-1]
    assert above.startswith("#") and "'생산량'" in above


def test_remarks_as_reason_give_the_hand_computed_figures(tmp_path):
    path = _write(tmp_path)
    proposal = with_roles(guess_mapping(path), {"비고": "reason"})
    store = DuckDBStore()
    summary = import_file(path, parse_mapping(proposal.mapping), store, resume=False)
    assert summary.rows_rejected == 0
    reasons = {r["reason_code"] for r in store.read("state").to_pylist()}
    assert {"스핀들 알람", "자재 대기"} <= reasons
    start, end = datetime(2026, 11, 3, tzinfo=SEOUL), datetime(2026, 11, 4, tzinfo=SEOUL)
    df = compute_kpis(store, start, end, group_by=("machine",)).set_index("machine")
    one = df.loc[next(i for i in df.index if i.endswith("/1호기"))]
    # 08:00-18:00 less the 60-minute lunch = 540 min planned busy; 490 min running
    assert one["planned_busy_time_s"] == 540 * 60
    assert one["actual_production_time_s"] == 490 * 60
    assert (one["good_quantity"], one["scrap_quantity"]) == (990, 13)
