"""The retrofit benchmark (bench/retrofit.py) and its file format (retrofit/traces.py read/write).

The bench runs unchanged on any folder in the format: here the small sample folder
tests/data/retrofit/ and a folder written by the trace generator; a file that is not in the
format stops it with an error naming the file, the line and the field, in Korean and English.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from factory_commons.retrofit.traces import make_folder, observed_cycles, read_csv, trace, write_csv

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "retrofit"
LAST = re.compile(r"^retrofit_state_accuracy: (\d\.\d{4}) threshold: (\d\.\d{4})$")


def bench():
    if "bench_retrofit" in sys.modules:
        return sys.modules["bench_retrofit"]
    spec = importlib.util.spec_from_file_location("bench_retrofit", ROOT / "bench" / "retrofit.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_retrofit"] = mod  # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    return mod


def has_korean(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def test_bench_on_the_sample_folder_prints_the_last_line(capsys):
    assert bench().main(["--data", str(SAMPLE)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    m = LAST.match(lines[-1])
    assert m, lines[-1]
    ours, threshold = float(m.group(1)), float(m.group(2))
    assert ours >= 0.95 and ours > threshold
    assert any(line.startswith("cycles:") for line in lines)


def test_bench_on_a_generated_folder(tmp_path, capsys):
    make_folder(
        tmp_path, 5, hours=(1.0, 1.5), repeats=1, hz_choices=(1,), kinds=("compressor", "step_levels")
    )
    assert len(list(tmp_path.glob("*.csv"))) == 2
    assert bench().main(["--data", str(tmp_path)]) == 0
    assert LAST.match(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_scores_and_the_threshold_baseline():
    b = bench()
    truth = np.array([0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int8)
    assert b.scores(truth, truth) == (1.0, 1.0)
    acc, bal = b.scores(truth, np.array([0, 0, 2, 2, 2, 2, 2, 2], dtype=np.int8))
    assert acc == 0.75 and bal == pytest.approx(2 / 3)
    assert list(b.codes(np.array(["off", "idle", "running", "unknown"]))) == [0, 1, 2, -1]


def test_the_confusion_matrix_names_the_largest_errors():
    b = bench()
    truth = np.array([0, 0, 1, 1, 1, 1, 2, 2], dtype=np.int8)
    pred = np.array([0, -1, 1, 2, 2, 1, 2, 1], dtype=np.int8)
    m = b.confusion(truth, pred)
    assert m.tolist() == [[1, 0, 0, 1], [0, 2, 2, 0], [0, 1, 1, 0]]
    assert b.worst_confusions(m) == "off>unk 0.50, idle>run 0.50"
    assert b.worst_confusions(b.confusion(truth, truth)) == "-"


def test_bench_refuses_a_missing_or_empty_folder(tmp_path, capsys):
    assert bench().main(["--data", str(tmp_path / "nowhere")]) == 2
    assert bench().main(["--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "no CSV files" in err


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("ts,current,state,cycle\n2026-03-02T08:00:00+09:00,1.0,off,0\n", "'current_a'"),
        ("ts,current_a,state,cycle\n", "no data rows"),
        (
            "ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,1.0,off,0\nyesterday,1.0,off,0\n",
            "line 3, field 'ts'",
        ),
        ("ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,-1.0,off,0\n", "line 2, field 'current_a'"),
        ("ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,abc,off,0\n", "line 2, field 'current_a'"),
        ("ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,1.0,busy,0\n", "line 2, field 'state'"),
        ("ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,1.0,off,1.5\n", "line 2, field 'cycle'"),
        (
            "ts,current_a,state,cycle\n2026-03-02T08:00:01+09:00,1.0,off,0\n2026-03-02T08:00:00+09:00,1.0,off,0\n",
            "line 3: ts is earlier",
        ),
    ],
)
def test_a_file_not_in_the_format_is_named_with_line_and_field(tmp_path, text, expect):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError) as err:
        read_csv(path)
    msg = str(err.value)
    assert expect in msg and "bad.csv" in msg and has_korean(msg)


def test_bench_stops_on_a_bad_file(tmp_path, capsys):
    write(tmp_path / "bad.csv", "ts,current_a,state,cycle\n2026-03-02T08:00:00+09:00,1.0,broken,0\n")
    assert bench().main(["--data", str(tmp_path)]) == 1
    assert "field 'state'" in capsys.readouterr().err


def test_write_and_read_round_trip_with_dropouts_and_offset(tmp_path):
    start = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    ts, amps, state, cycle = trace("welding", start, 1800, np.random.default_rng(1), hz=2)
    assert np.isnan(amps).any()
    path = tmp_path / "w.csv"
    write_csv(path, ts, amps, state, cycle)
    assert "+09:00" in path.read_text(encoding="utf-8").splitlines()[1]
    ts2, amps2, state2, cycle2 = read_csv(path)
    assert np.array_equal(ts2, ts.astype("datetime64[ms]").astype("datetime64[us]"))
    assert np.array_equal(np.isnan(amps2), np.isnan(amps))
    ok = ~np.isnan(amps)
    assert amps2[ok] == pytest.approx(amps[ok], rel=1e-3)
    assert np.array_equal(state2, state) and np.array_equal(cycle2, cycle)


def test_observed_cycles_leave_out_what_happened_in_a_gap():
    ts = np.datetime64("2026-03-02T00:00:00", "us") + np.array([0, 1, 2, 3, 600, 601], dtype="timedelta64[s]")
    cycle = np.array([0, 1, 1, 2, 7, 8])
    assert observed_cycles(ts, cycle) == 3  # 0->1, 1->2, 7->8; the 5 in the 10-minute gap are not seen
