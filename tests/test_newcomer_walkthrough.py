"""What a newcomer tripped on when following the docs with files of their own (Korean and English).

Each test failed before its fix: an English work-order export with capitalised headers
(Symptom, Cause, Machine type), ...
"""

from __future__ import annotations

import pytest

from factory_commons.knowhow.files import CaseFileError, read_cases


def test_english_export_headers_in_any_case_fill_the_fields(tmp_path):
    """`Symptom`, `Machine type`, `Work order`, `Action taken` are the fields the docs name,
    written as an English CMMS export writes them; before, every row was refused."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "Work order,Machine,Machine Type,Symptom,Root cause,Action taken,Date,Shift\n"
        "E-100,Press 5,hydraulic press,oil dripping under the ram,worn rod seal,replaced seal,2024-01-10,B\n",
        encoding="utf-8",
    )
    (c,) = read_cases(path)
    assert (c.ref, c.machine, c.machine_type, c.symptom, c.cause, c.action) == (
        "E-100",
        "Press 5",
        "hydraulic press",
        "oil dripping under the ram",
        "worn rod seal",
        "replaced seal",
    )
    assert c.occurred.date().isoformat() == "2024-01-10" and c.extra == {"Shift": "B"}
    own = tmp_path / "own.csv"
    own.write_text("symptom,Symptom\nleak,drip\n", encoding="utf-8")
    (d,) = read_cases(own)
    assert d.symptom == "leak" and d.extra == {"Symptom": "drip"}
    ids = tmp_path / "ids.csv"
    ids.write_text("ID,Symptom\n1,leak\n", encoding="utf-8")
    (e,) = read_cases(ids)
    assert e.id != "1" and e.extra == {"ID": "1"}


def test_a_file_without_any_text_column_says_so_once_with_its_columns(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("번호,내용A,내용B\n1,a,b\n2,c,d\n", encoding="utf-8")
    with pytest.raises(CaseFileError) as e:
        read_cases(path)
    assert len(e.value.problems) == 1
    assert "번호, 내용A, 내용B" in str(e.value) and "증상" in str(e.value)
