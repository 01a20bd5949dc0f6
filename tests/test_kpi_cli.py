"""The `kpi` and `downtime` commands on a small store (issue 18): plant-local --from/--to, the
JSON contract (an array of records with stable keys on stdout, warnings on stderr), display
names, unknown performance shown as such, the downtime Pareto; and help texts that are never
read as Rich markup."""

from __future__ import annotations

import io
import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.kpi import compute_kpis
from factory_commons.model import Machine, PartCount, ProductionOrder, StateChange
from factory_commons.store import open_store

runner = CliRunner()
KST = ZoneInfo("Asia/Seoul")
M1, M2 = "acme/seoul/press/line1/p1", "acme/seoul/press/line1/p2"
T0 = datetime(2024, 3, 4, 8, tzinfo=KST)  # Monday 08:00 in Seoul
#: the keys every record of `kpi --by machine --format json` has (docs/cli.md)
KEYS = {
    "machine",
    "display_name",
    "oee",
    "availability",
    "effectiveness",
    "quality_ratio",
    "produced_quantity",
    "good_quantity",
    "scrap_quantity",
    "quantity_without_ideal_time",
    "planned_busy_time_s",
    "down_time_s",
}


@pytest.fixture()
def store(tmp_path: Path) -> str:
    """Two presses without calendar, one shift 08:00-16:00 in Seoul as an interval log (parts
    counted at each hour's end), a 20 min breakdown; p2's product has no ideal cycle time."""
    path = tmp_path / "s.duckdb"
    with open_store(str(path)) as st:
        st.register_machines(
            [Machine(path=M1, display_name="프레스 1호"), Machine(path=M2, display_name="프레스 2호")]
        )
        recs = []
        for m, order in ((M1, "O1"), (M2, "O2")):
            for h in range(8):
                a = T0 + timedelta(hours=h)
                recs.append(StateChange(ts=a, machine=m, state="running", order_id=order))
                recs.append(
                    PartCount(ts=a + timedelta(hours=1), machine=m, good=100, scrap=1, order_id=order)
                )
            recs.append(
                StateChange(
                    ts=T0 + timedelta(hours=3, minutes=10),
                    machine=m,
                    state="unplanned_down",
                    reason_code="hydraulic",
                    order_id=order,
                )
            )
            recs.append(
                StateChange(
                    ts=T0 + timedelta(hours=3, minutes=30), machine=m, state="running", order_id=order
                )
            )
            recs.append(StateChange(ts=T0 + timedelta(hours=8), machine=m, state="idle"))
        recs += [
            ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27),
            ProductionOrder(order_id="O2", product="X9"),
        ]
        st.write(recs)
    return str(path)


def kpi(store: str, *args: str):
    return runner.invoke(app, ["kpi", "--store", store, *args])


def test_kpi_json_is_an_array_of_records_with_stable_keys_and_warnings_on_stderr(store: str):
    r = kpi(store, "--by", "machine", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)  # stdout alone is the JSON array
    assert isinstance(rows, list) and [x["machine"] for x in rows] == [M1, M2]
    assert all(KEYS <= set(x) for x in rows)
    one, two = rows
    assert one["display_name"] == "프레스 1호" and two["display_name"] == "프레스 2호"
    # the window ends at the last event: the last interval's parts are in it
    assert one["produced_quantity"] == 808 and one["down_time_s"] == 1200
    assert one["oee"] == pytest.approx(27 * 800 / 28800)
    # no ideal cycle time for X9: unknown, never 0
    assert two["effectiveness"] is None and two["oee"] is None and two["quantity_without_ideal_time"] == 808
    assert "X9" in r.stderr and "products import" in r.stderr and "이상 사이클 타임" in r.stderr
    assert "X9" not in r.stdout


def test_kpi_table_shows_names_unknown_cells_and_why(store: str):
    r = kpi(store)
    assert r.exit_code == 0, r.output
    assert "프레스 1호" in r.stdout and "75.0%" in r.stdout
    assert "unknown (see the warnings below)" in r.stdout
    assert "808 parts have no ideal cycle time" in r.stderr


def test_from_and_to_are_days_of_the_plants_zone(store: str):
    r = kpi(store, "--from", "2024-03-04", "--to", "2024-03-05", "--by", "machine,day", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["machine"], x["day"]) for x in rows] == [(M1, "2024-03-04"), (M2, "2024-03-04")]
    assert rows[0]["calendar_time_s"] == 86400 and rows[0]["produced_quantity"] == 808
    with open_store(store) as st:
        st.set_plant_timezone("UTC")
        # the same days in UTC: 2024-03-04 00:00Z is 09:00 in Seoul; the count stamped then
        # belongs to the day before
        want = compute_kpis(st, datetime(2024, 3, 4), datetime(2024, 3, 5), ("machine",))
    r = kpi(store, "--from", "2024-03-04", "--to", "2024-03-05", "--format", "csv")
    assert r.exit_code == 0, r.output
    got = pd.read_csv(io.StringIO(r.stdout))
    assert list(got["produced_quantity"]) == list(want["produced_quantity"]) == [707, 707]


def test_kpi_refuses_an_empty_window_and_bad_options(store: str, tmp_path: Path):
    r = kpi(store, "--from", "2024-03-04", "--to", "2024-03-04")
    assert r.exit_code == 2 and "--to must be after --from" in r.output and "Traceback" not in r.output
    r = kpi(store, "--by", "machine,machine")
    assert r.exit_code == 2
    r = kpi(store, "--format", "xml")
    assert r.exit_code == 2 and "xml" in r.output
    empty = tmp_path / "empty.duckdb"
    with open_store(str(empty)):
        pass
    r = kpi(str(empty))
    assert r.exit_code == 1 and "no state data" in r.output


def test_kpi_by_plant_has_one_record(store: str):
    r = kpi(store, "--by", "plant", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0]["produced_quantity"] == 1616 and rows[0]["oee"] is None


# -- downtime ---------------------------------------------------------------------------------


def downtime(store: str, *args: str):
    return runner.invoke(app, ["downtime", "--store", store, *args])


def test_downtime_pareto_by_reason_with_names_and_shares(store: str):
    r = downtime(store, "--from", "2024-03-04", "--to", "2024-03-05", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["state"], x["reason"]) for x in rows] == [("idle", "(none)"), ("unplanned_down", "hydraulic")]
    idle, down = rows
    assert idle["seconds"] == 2 * 8 * 3600 and down["seconds"] == 2 * 1200 and down["episodes"] == 2
    assert idle["state_ko"] == "대기" and idle["state_en"] == "Idle" and idle["reason_en"] == "No reason"
    assert down["hours"] == pytest.approx(2 / 3)
    assert sum(x["share"] for x in rows) == pytest.approx(1.0) and rows[-1][
        "cumulative_share"
    ] == pytest.approx(1.0)
    # the Pareto's time is the KPIs' lost time of the same window
    with open_store(store) as st:
        k = compute_kpis(st, datetime(2024, 3, 4, tzinfo=KST), datetime(2024, 3, 5, tzinfo=KST), ())
    lost = k[["setup_time_s", "down_time_s", "delay_time_s", "micro_stop_time_s"]].to_numpy().sum()
    assert sum(x["seconds"] for x in rows) == pytest.approx(lost)


def test_downtime_by_machine_and_state_table_csv_and_top(store: str):
    r = downtime(store, "--by", "machine", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)  # the default window is the shift: only the breakdowns
    assert [(x["machine"], x["display_name"], x["seconds"]) for x in rows] == [
        (M1, "프레스 1호", 1200.0),
        (M2, "프레스 2호", 1200.0),
    ]
    r = downtime(
        store, "--by", "state", "--format", "csv", "--from", "2024-03-04", "--to", "2024-03-05", "--top", "1"
    )
    assert r.exit_code == 0, r.output
    df = pd.read_csv(io.StringIO(r.stdout))
    assert list(df["state"]) == ["idle"] and "state_ko" in df.columns
    r = downtime(store, "--from", "2024-03-04", "--to", "2024-03-05")
    assert r.exit_code == 0, r.output
    assert "hydraulic" in r.stdout and "누적" in r.stdout and "cumulative" in r.stdout
    r = downtime(store, "--by", "machine")
    assert "프레스 2호" in r.stdout


def test_downtime_refuses_bad_options(store: str):
    r = downtime(store, "--by", "weekday")
    assert r.exit_code == 2 and "weekday" in r.output
    r = downtime(store, "--top", "0")
    assert r.exit_code == 2
    r = downtime(store, "--from", "2024-03-05", "--to", "2024-03-04")
    assert r.exit_code == 2 and "--to must be after --from" in r.output


# -- help texts are plain text -----------------------------------------------------------------


def _commands(cmd, prefix=()):
    for name, sub in getattr(cmd, "commands", {}).items():
        yield (*prefix, name)
        yield from _commands(sub, (*prefix, name))


def test_every_commands_help_works():
    paths = list(_commands(get_command(app)))
    assert ("kpi",) in paths and ("downtime",) in paths and ("browse",) in paths
    for path in paths:
        r = runner.invoke(app, [*path, "--help"])
        assert r.exit_code == 0, (path, r.output)


def test_a_bracket_in_a_help_text_is_not_read_as_markup():
    def probe(endpoint: str = typer.Argument(..., help="opc.tcp://host:port[/path]")) -> None:
        """Probe [/path] [bold]x[/bold]."""

    app.command("zz-probe")(probe)
    try:
        r = runner.invoke(app, ["zz-probe", "--help"])
    finally:
        app.registered_commands.pop()
    assert r.exit_code == 0, r.output
    assert "host:port[/path]" in r.output and "[bold]x[/bold]" in r.output


def test_unknown_is_never_zero_in_csv(store: str):
    r = kpi(store, "--format", "csv")
    df = pd.read_csv(io.StringIO(r.stdout))
    assert math.isnan(df.loc[df["machine"] == M2, "oee"].iloc[0])


def test_downtime_names_reasons_from_the_firms_own_list(store: str, tmp_path: Path):
    from factory_commons.accounts import Accounts
    from factory_commons.accounts.db import default_accounts_path

    acc = Accounts(default_accounts_path(store))
    acme = acc.create_firm("acme", ["acme"])
    acc.set_stop_reasons(acme.id, [("hydraulic", "유압 누유", "Hydraulic leak")])
    acc.create_firm("other", ["other"])
    acc.close()
    r = downtime(store, "--firm", "acme", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {(x["reason"], x["reason_ko"], x["reason_en"]) for x in rows} == {
        ("hydraulic", "유압 누유", "Hydraulic leak")
    }
    r = downtime(store, "--firm", "other", "--format", "json")  # no machines of its own here
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == []
    r = downtime(store, "--firm", "nobody")
    assert r.exit_code == 2 and "no such firm: nobody" in r.output
    r = downtime(store, "--firm", "acme", "--accounts", str(tmp_path / "missing.sqlite"))
    assert r.exit_code == 2 and "missing.sqlite" in r.output
