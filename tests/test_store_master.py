"""Master data in the store, on both backends: products, machine and plant time zones, orders
whose quantity and cycle time are unknown, and the upgrade of stores written before them."""

from __future__ import annotations

import math
import subprocess
import uuid
from pathlib import Path

import duckdb
import pytest
from pydantic import ValidationError

from factory_commons.model import Machine, PlannedBreak, Product, ProductionOrder, Shift, ShiftCalendar
from factory_commons.store import DuckDBStore
from factory_commons.store.validate import BatchError

M1 = "acme/plant-1/machining/line-1/cnc-01"
M2 = "acme/plant-1/machining/line-1/cnc-02"
M3 = "acme/plant-1/machining/line-2/press-01"


def test_order_without_quantity_or_cycle_time(store_factory):
    store = store_factory()
    store.write_orders([ProductionOrder(order_id="o-1", product="P-100")])
    store.write_orders(
        [ProductionOrder(order_id="o-2", product="P-200", quantity=50, ideal_cycle_time_s=3.5)]
    )
    rows = store.read("order").to_pylist()
    assert [(r["order_id"], r["quantity"], r["ideal_cycle_time_s"]) for r in rows] == [
        ("o-1", None, None),
        ("o-2", 50, 3.5),
    ]


@pytest.mark.parametrize(
    ("field", "value"), [("quantity", 0), ("ideal_cycle_time_s", 0.0), ("ideal_cycle_time_s", math.inf)]
)
def test_order_known_values_still_checked(field, value):
    with pytest.raises(ValidationError, match=field):
        ProductionOrder(order_id="o", product="p", **{field: value})


@pytest.mark.parametrize(
    ("value", "why"), [(0.0, "must be > 0"), (-2.0, "must be > 0"), (math.nan, "finite")]
)
def test_order_batch_with_bad_cycle_time_is_rejected(store_factory, value, why):
    store = store_factory()
    rows = [
        {"order_id": "ok", "product": "p", "ideal_cycle_time_s": None},
        {"order_id": "bad", "product": "p", "ideal_cycle_time_s": value},
    ]
    with pytest.raises(BatchError, match=why) as err:
        store.write_table("order", rows)
    assert "ideal_cycle_time_s" in str(err.value)
    assert store.read("order").num_rows == 0  # all or nothing


def test_products_upsert_and_list(store_factory):
    store = store_factory()
    assert store.products() == []
    n = store.save_products(
        [
            Product(product="P-200", ideal_cycle_time_s=30, display_name="브래킷", unit="EA"),
            Product(product="P-100", ideal_cycle_time_s=12.5),
        ]
    )
    assert n == 2
    assert [p.product for p in store.products()] == ["P-100", "P-200"]
    assert store.products()[1].display_name == "브래킷"
    # the same again changes nothing; a new cycle time replaces the old one
    assert store.save_products([Product(product="P-100", ideal_cycle_time_s=12.5)]) == 0
    assert store.save_products([Product(product="P-100", ideal_cycle_time_s=10, unit="EA")]) == 1
    p100 = store.products()[0]
    assert (p100.ideal_cycle_time_s, p100.unit) == (10, "EA")


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_product_cycle_time_must_be_positive_and_finite(bad):
    with pytest.raises(ValidationError, match="ideal_cycle_time_s"):
        Product(product="P", ideal_cycle_time_s=bad)


def test_product_code_checked():
    with pytest.raises(ValidationError, match="product"):
        Product(product=" P", ideal_cycle_time_s=1)


def test_machine_time_zone_validated():
    assert Machine(path=M1, timezone="Europe/Berlin").timezone == "Europe/Berlin"
    with pytest.raises(ValidationError, match="unknown time zone 'Asia/Seol'"):
        Machine(path=M1, timezone="Asia/Seol")


def test_machine_timezones_own_then_calendar_then_plant(store_factory):
    store = store_factory()
    assert store.plant_timezone() == "Asia/Seoul"  # the default
    cal = ShiftCalendar(
        name="us-day",
        timezone="America/Chicago",
        shifts=(
            Shift(
                name="day",
                start="08:00",
                end="16:00",
                breaks=(PlannedBreak(name="l", start="12:00", end="12:30"),),
            ),
        ),
    )
    store.save_calendar(cal)
    store.register_machines(
        [
            Machine(path=M1, timezone="Europe/Berlin", calendar="us-day"),
            Machine(path=M2, calendar="us-day"),
            Machine(path=M3, display_name="프레스 1"),
        ]
    )
    assert store.machine_timezones() == {M1: "Europe/Berlin", M2: "America/Chicago", M3: "Asia/Seoul"}
    store.set_plant_timezone("UTC")
    assert store.plant_timezone() == "UTC"
    assert store.machine_timezones()[M3] == "UTC"
    # registering again without a zone keeps the stored one; a new zone replaces it
    store.register_machines([Machine(path=M1, display_name="CNC 1")])
    assert store.machines()[0].timezone == "Europe/Berlin"
    store.register_machines([Machine(path=M1, timezone="Asia/Tokyo")])
    assert store.machines()[0].timezone == "Asia/Tokyo"
    assert store.machines()[0].display_name == "CNC 1"


def test_unknown_plant_time_zone_is_refused(store_factory):
    store = store_factory()
    with pytest.raises(ValueError, match="unknown time zone 'Seoul'"):
        store.set_plant_timezone("Seoul")
    assert store.plant_timezone() == "Asia/Seoul"


def test_master_data_survive_export_and_import(store_factory, tmp_path: Path):
    a = store_factory()
    a.register_machines([Machine(path=M1, timezone="Europe/Berlin", display_name="CNC 1")])
    a.save_products([Product(product="P-1", ideal_cycle_time_s=7.5, display_name="축")])
    a.set_plant_timezone("Asia/Tokyo")
    a.write_orders([ProductionOrder(order_id="o-1", product="P-1", machine=M1)])
    counts = a.export_parquet(tmp_path)
    assert counts["products"] == 1 and counts["settings"] == 1
    b = store_factory()
    added = b.import_parquet(tmp_path)
    assert added["products"] == 1 and added["orders"] == 1
    assert b.products() == a.products()
    assert b.plant_timezone() == "Asia/Tokyo"
    assert b.machines()[0].timezone == "Europe/Berlin"
    assert b.read("order").to_pylist()[0]["ideal_cycle_time_s"] is None
    assert b.import_parquet(tmp_path)["products"] == 0  # idempotent


def _old_source(name: str) -> str:
    """A store module as it was before master data (the commit before this test's)."""
    rev = subprocess.run(
        [
            "git",
            "log",
            "-1",
            "--diff-filter=A",
            "--format=%H",
            "--",
            "src/factory_commons/store/migrations/v0006_master_data.py",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    ).stdout.strip()
    if not rev:
        pytest.skip("needs the git history")
    return subprocess.run(
        ["git", "show", f"{rev}~1:src/factory_commons/store/{name}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        check=True,
    ).stdout


def test_duckdb_file_of_an_older_version_is_upgraded(tmp_path: Path):
    ns: dict = {}
    code = _old_source("schema.py").replace("from ..model.records", "from factory_commons.model.records")
    exec(compile(code, "old_schema", "exec"), ns)  # noqa: S102 - our own earlier source
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(ns["BASE_DDL"])
    for spec in ns["EVENT_TABLES"].values():
        con.execute(ns["event_ddl"](spec))
    con.execute(ns["VIEWS_DDL"])
    con.execute(
        f"INSERT INTO machines VALUES (1, '{M1}', 'acme', 'plant-1', 'machining', 'line-1', 'cnc-01', "
        "'CNC 1', NULL, NULL, NULL)"
    )
    con.execute("INSERT INTO orders VALUES ('o-old', 'P', 10, 2.0, 1, NULL, NULL)")
    con.close()
    store = DuckDBStore(path)
    try:
        assert store.machines()[0].timezone is None
        store.register_machines([Machine(path=M1, timezone="Asia/Seoul")])
        store.write_orders([ProductionOrder(order_id="o-new", product="P")])
        store.save_products([Product(product="P", ideal_cycle_time_s=2)])
        assert [r["quantity"] for r in store.read("order").to_pylist()] == [None, 10]
        assert store.machine_timezones() == {M1: "Asia/Seoul"}
    finally:
        store.close()
    DuckDBStore(path).close()  # opening an upgraded file again is fine


def test_postgres_schema_of_an_older_version_is_migrated(pg_url):
    import psycopg

    from factory_commons.store.postgres import PostgresStore

    schema = f"t_old_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
        con.execute(f'SET search_path TO "{schema}"')
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        from factory_commons.store.migrations import migrations

        with con.cursor() as cur:
            for m in migrations():
                if m.version >= 6:
                    break
                cur.execute(m.sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [m.version, m.name]
                )
        con.execute("INSERT INTO orders VALUES ('o-old', 'P', 10, 2.0, NULL, NULL, NULL)")
    store = PostgresStore(pg_url, schema=schema)
    try:
        assert 6 in store.applied
        store.write_orders([ProductionOrder(order_id="o-new", product="P")])
        assert [r["quantity"] for r in store.read("order").to_pylist()] == [None, 10]
        store.register_machines([Machine(path=M1, timezone="Europe/Berlin")])
        assert store.machine_timezones() == {M1: "Europe/Berlin"}
    finally:
        store.drop_schema()
        store.close()


def test_master_data_through_the_owner_of_a_shared_file():
    """A second process reaches a DuckDB file through its owner (store/remote.py): products,
    zones and the plant setting travel the same way."""
    from factory_commons.store.remote import FlightStoreServer, RemoteStore

    store = DuckDBStore()
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    try:
        assert remote.save_products([Product(product="P", ideal_cycle_time_s=4)]) == 1
        remote.set_plant_timezone("Asia/Tokyo")
        remote.register_machines([Machine(path=M1, timezone="Europe/Berlin"), Machine(path=M2)])
        assert store.products() == [Product(product="P", ideal_cycle_time_s=4)]
        assert remote.machine_timezones() == {M1: "Europe/Berlin", M2: "Asia/Tokyo"}
        assert remote.machines()[0].timezone == "Europe/Berlin"
    finally:
        remote.close()
        server.shutdown()
        store.close()


def test_an_order_without_quantity_or_cycle_time_keeps_the_stored_ones(store_factory):
    store = store_factory()
    store.write_orders(
        [ProductionOrder(order_id="o", product="P", quantity=100, ideal_cycle_time_s=8, machine=M1)]
    )
    got = store.write_orders([ProductionOrder(order_id="o", product="P", machine=M1)])
    assert got.written == 0  # nothing changes
    (row,) = store.read("order").to_pylist()
    assert (row["quantity"], row["ideal_cycle_time_s"]) == (100, 8.0)
    store.write_orders(
        [ProductionOrder(order_id="o", product="P", ideal_cycle_time_s=6)]
    )  # a known one replaces
    (row,) = store.read("order").to_pylist()
    assert (row["quantity"], row["ideal_cycle_time_s"], row["machine"]) == (100, 6.0, None)
    # in one batch the first row of an order id wins
    store.write_table(
        "order",
        [
            {"order_id": "p", "product": "A", "ideal_cycle_time_s": 1.0},
            {"order_id": "p", "product": "B", "ideal_cycle_time_s": 2.0},
        ],
    )
    assert {r["order_id"]: r["product"] for r in store.read("order").to_pylist()}["p"] == "A"
