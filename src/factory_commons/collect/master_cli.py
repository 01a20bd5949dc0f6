"""Commands for master data: `products`, `machines`, `calendars` and `plant`.

- `factory-commons products import FILE --store S`: a product master (product -> ideal cycle
  time) from CSV or Excel; `products list`.
- `factory-commons machines --store S`: the ISA-95 hierarchy with display names and time zones;
  `machines import FILE --store S [--prefix enterprise/site]`.
- `factory-commons calendars --store S`: the shift calendars; `calendars import FILE`.
- `factory-commons plant --store S [--timezone ZONE]`: show or set the plant's time zone.

Imports are all or nothing: a file with any bad row is refused with file, line, column and why
(exit 2) and nothing is written. Registered by the main command line (cli.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from ..cli_common import StoreOpt, console, err, open_store_or_exit
from ..i18n import Catalog

MASTER = Catalog("master")


def _t(key: str, **values) -> str:
    """A `master` text, Korean / English, with its fields filled."""
    ko, en = MASTER.pair(key)
    return f"{ko.format(**values)} / {en.format(**values)}"


FileArg = Annotated[Path, typer.Argument(help=MASTER.both("opt_file", " / "))]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help=MASTER.both("opt_sheet", " / "))]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help=MASTER.both("opt_format", " / "))]

products_app = typer.Typer(help=MASTER.both("cmd_products", " / "), no_args_is_help=True)
machines_app = typer.Typer(help=MASTER.both("cmd_machines", " / "), invoke_without_command=True)
calendars_app = typer.Typer(help=MASTER.both("cmd_calendars", " / "), invoke_without_command=True)


def _refused(e: Exception) -> typer.Exit:
    err.print(f"[red]{escape(_t('refused'))}[/]")
    err.print(str(e), markup=False, highlight=False)
    return typer.Exit(2)


def _notes(notes: list[str]) -> None:
    for n in notes:
        console.print(f"[dim]· {escape(n)}[/]", highlight=False)


# -- products ------------------------------------------------------------------------------------
@products_app.command("import", help=MASTER.both("cmd_products_import", " / "))
def products_import(file: FileArg, store: StoreOpt = "factory.duckdb", sheet: SheetOpt = None) -> None:
    """Read a product master and store it (exit 0), or refuse it with every bad row (exit 2)."""
    from .master_files import MasterFileError, read_products_report

    try:
        got = read_products_report(file, sheet=sheet)
    except MasterFileError as e:
        raise _refused(e) from None
    _notes(got.notes)
    _product_table(got.items)
    with open_store_or_exit(store, must_exist=False) as st:
        changed = st.save_products(got.items)
    console.print(_t("products_stored", n=len(got.items), changed=changed, store=store), highlight=False)


def _product_table(products) -> None:
    t = Table(show_lines=False)
    for key in ("col_product", "col_name", "col_cycle_time_s", "col_per_hour", "col_unit"):
        t.add_column(
            MASTER.both(key, "\n"),
            justify="right" if key in ("col_cycle_time_s", "col_per_hour") else "left",
            overflow="fold",
        )
    for p in products:
        t.add_row(
            escape(p.product),
            escape(p.display_name or ""),
            f"{p.ideal_cycle_time_s:g}",
            f"{3600 / p.ideal_cycle_time_s:,.1f}",
            escape(p.unit or ""),
        )
    console.print(t)


@products_app.command("list", help=MASTER.both("cmd_products_list", " / "))
def products_list(store: StoreOpt = "factory.duckdb", fmt: FormatOpt = "table") -> None:
    """The product master of a store (table or json)."""
    if fmt not in ("table", "json"):
        err.print(f"[red]--format: {escape(_t('bad_format', value=fmt, known='table, json'))}[/]")
        raise typer.Exit(2)
    with open_store_or_exit(store) as st:
        products = st.products()
    if fmt == "json":
        print(json.dumps([p.model_dump() for p in products], ensure_ascii=False, indent=2))
        return
    if not products:
        console.print(_t("no_products", store=store), highlight=False)
        return
    _product_table(products)


# -- machines ------------------------------------------------------------------------------------
@machines_app.callback()
def machines(ctx: typer.Context, store: StoreOpt = "factory.duckdb") -> None:
    """Without a subcommand: the ISA-95 hierarchy of a store, with display names and time zones."""
    if ctx.invoked_subcommand is not None:
        return
    with open_store_or_exit(store) as st:
        ms = st.machines()
        zones = st.machine_timezones()
        plant = st.plant_timezone()
    root = Tree(f"Factory Commons  [dim]{escape(_t('plant_zone_is', zone=plant))}[/]")
    nodes: dict[str, Tree] = {}
    for m in ms:
        parts = m.path.split("/")
        parent = root
        for i in range(1, 5):
            key = "/".join(parts[:i])
            if key not in nodes:
                nodes[key] = parent.add(escape(parts[i - 1]))
            parent = nodes[key]
        zone = zones.get(m.path, plant)
        extra = " · ".join(
            x
            for x in (
                m.kind,
                zone if zone != plant or m.timezone else None,
                f"{m.default_ideal_cycle_time_s:g} s" if m.default_ideal_cycle_time_s else None,
                m.calendar,
            )
            if x
        )
        parent.add(f"{escape(parts[4])}  [bold]{escape(m.display_name or '')}[/]  [dim]{escape(extra)}[/]")
    console.print(root)


@machines_app.command("import", help=MASTER.both("cmd_machines_import", " / "))
def machines_import(
    file: FileArg,
    store: StoreOpt = "factory.duckdb",
    prefix: Annotated[str | None, typer.Option("--prefix", help=MASTER.both("opt_prefix", " / "))] = None,
    sheet: SheetOpt = None,
) -> None:
    """Read a machine master and register its machines (exit 0), or refuse it (exit 2)."""
    from .master_files import MasterFileError, check_prefix, read_machines_report

    if prefix is not None:
        try:
            check_prefix(prefix)
        except ValueError as e:
            err.print(f"[red]--prefix:[/] {escape(str(e))}")
            raise typer.Exit(2) from None
    with open_store_or_exit(store, must_exist=False) as st:
        try:
            got = read_machines_report(file, prefix=prefix, known=st.machines(), sheet=sheet)
        except MasterFileError as e:
            raise _refused(e) from None
        _notes(got.notes)
        t = Table()
        for key in ("col_path", "col_name", "col_kind", "col_timezone", "col_calendar", "col_cycle_time_s"):
            t.add_column(MASTER.both(key, "\n"), overflow="fold")
        for m in got.items:
            t.add_row(
                *(
                    escape(x or "")
                    for x in (
                        m.path,
                        m.display_name,
                        m.kind,
                        m.timezone,
                        m.calendar,
                        f"{m.default_ideal_cycle_time_s:g}" if m.default_ideal_cycle_time_s else "",
                    )
                )
            )
        console.print(t)
        known_cals = set(st.calendars())
        missing = sorted({m.calendar for m in got.items if m.calendar and m.calendar not in known_cals})
        st.register_machines(got.items)
    if missing:
        console.print(
            f"[yellow]{escape(_t('calendar_not_stored', names=', '.join(missing)))}[/]", highlight=False
        )
    console.print(_t("machines_stored", n=len(got.items), store=store), highlight=False)


# -- calendars -----------------------------------------------------------------------------------
@calendars_app.callback()
def calendars(ctx: typer.Context, store: StoreOpt = "factory.duckdb") -> None:
    """Without a subcommand: the shift calendars of a store."""
    if ctx.invoked_subcommand is not None:
        return
    with open_store_or_exit(store) as st:
        cals = st.calendars()
    if not cals:
        console.print(_t("no_calendars", store=store), highlight=False)
        return
    _calendar_table(list(cals.values()))


def _calendar_table(cals) -> None:
    t = Table()
    for key in (
        "col_calendar",
        "col_timezone",
        "col_shift",
        "col_hours",
        "col_days",
        "col_breaks",
        "col_holidays",
    ):
        t.add_column(MASTER.both(key, "\n"), overflow="fold")
    for c in cals:
        for k, s in enumerate(c.shifts):
            t.add_row(
                escape(c.name) if k == 0 else "",
                c.timezone if k == 0 else "",
                escape(s.name),
                f"{s.start:%H:%M}–{s.end:%H:%M}",
                ",".join(s.days),
                escape(", ".join(f"{b.name} {b.start:%H:%M}–{b.end:%H:%M}" for b in s.breaks)),
                ", ".join(str(d) for d in c.holidays) if k == 0 else "",
            )
    console.print(t)


@calendars_app.command("import", help=MASTER.both("cmd_calendars_import", " / "))
def calendars_import(
    file: Annotated[Path, typer.Argument(help=MASTER.both("opt_calendar_file", " / "))],
    store: StoreOpt = "factory.duckdb",
    sheet: SheetOpt = None,
) -> None:
    """Read shift calendars (CSV, Excel or TOML) and store them (exit 0), or refuse them (exit 2)."""
    from .master_files import MasterFileError, read_calendars

    with open_store_or_exit(store, must_exist=False) as st:
        try:
            cals = read_calendars(file, timezone=st.plant_timezone(), sheet=sheet)
        except MasterFileError as e:
            raise _refused(e) from None
        _calendar_table(cals)
        for c in cals:
            st.save_calendar(c)
    console.print(_t("calendars_stored", n=len(cals), store=store), highlight=False)


# -- the plant -----------------------------------------------------------------------------------
def plant(
    store: StoreOpt = "factory.duckdb",
    timezone: Annotated[
        str | None, typer.Option("--timezone", help=MASTER.both("opt_timezone", " / "))
    ] = None,
) -> None:
    """Show the plant's time zone, or set it with --timezone."""
    from ..model.hierarchy import check_timezone

    if timezone is not None:
        try:
            check_timezone(timezone)
        except ValueError:
            err.print(f"[red]--timezone:[/] {escape(_t('unknown_timezone', value=timezone))}")
            raise typer.Exit(2) from None
    with open_store_or_exit(store, must_exist=timezone is None) as st:
        if timezone is not None:
            st.set_plant_timezone(timezone)
        zone = st.plant_timezone()
        n = len(st.machine_paths())
    console.print(_t("plant_zone", zone=zone, store=store, n=n), highlight=False)


def register(app: typer.Typer) -> None:
    """Add `products`, `machines`, `calendars` and `plant` to the main command line."""
    app.add_typer(products_app, name="products")
    app.add_typer(machines_app, name="machines")
    app.add_typer(calendars_app, name="calendars")
    app.command("plant", help=MASTER.both("cmd_plant", " / "))(plant)
