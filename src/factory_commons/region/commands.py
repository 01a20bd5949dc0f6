"""`factory-commons region programmes|print|consent ...`: programme outcomes, the printed report
and supplier consent on the command line (added to `region_app` of region/cli.py).

    region programmes --store S [--format json]        outcomes with intervals and costs (all
        programmes: for the programme's own staff; funders read the published ones on /region)
    region print --store S --out report.pdf [--lang ko|en]   the regional report, published cells only
    region consent invite|grant|revoke --store S ...   the steps of a buyer and a supplier
    region consent view --store S --buyer B --supplier X     what the policy in force shows (logged)

Exit status 2 on bad input (the message names the option and why), 3 when no consent is in force.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..i18n import Catalog

REGION_UI = Catalog("region_ui")
console = Console()
err = Console(stderr=True)
StoreOpt = Annotated[str, typer.Option("--store", "-s", help="store (DuckDB file or PostgreSQL URL)")]
CommonsOpt = Annotated[
    str | None, typer.Option("--commons", help="commons database (default: beside the store)")
]


def ut(key: str, **values) -> str:
    text = REGION_UI.both(key, " / ")
    return text.format(**values) if values else text


consent_app = typer.Typer(help=ut("cmd_consent"), no_args_is_help=True)


def register(region_app: typer.Typer) -> None:
    """Add `programmes`, `print` and `consent ...` to the `region` group (region/cli.py calls it)."""
    region_app.command("programmes", help=ut("cmd_programmes"))(programmes_cmd)
    region_app.command("print", help=ut("cmd_print"))(print_cmd)
    region_app.add_typer(consent_app, name="consent")


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: {value!r} is not a date (YYYY-MM-DD)[/]")
        raise typer.Exit(2) from None


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"[red]--now: {value!r} is not an ISO date-time[/]")
        raise typer.Exit(2) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


NowOpt = Annotated[str | None, typer.Option("--now", help="ISO date-time (default: now)")]


@contextmanager
def _region_db(store: str, commons: str | None) -> Iterator:
    """The region database for one command, closed afterwards; a refused consent step (a
    `ConsentError`) is printed and ends the command with exit code 2."""
    from .consent import ConsentError
    from .db import open_region_db

    db = open_region_db(store, commons)
    try:
        yield db
    except ConsentError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    finally:
        db.close()


def programmes_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    fmt: Annotated[str, typer.Option("--format")] = "table",
) -> None:
    from .db import load
    from .models import KpiSnapshot, Programme, RegionFirm
    from .programmes import evaluate_all

    with _region_db(store, commons) as db:
        out = evaluate_all(load(db, Programme), load(db, KpiSnapshot), load(db, RegionFirm))
    if fmt == "json":
        print(json.dumps([o.as_dict() for o in out], ensure_ascii=False, default=str))
        return
    for o in out:
        e, f = o.effect("overall_level"), o.effect("oee")
        cost = o.costs[0].value
        console.print(
            f"{o.programme}: n={o.n_with_data} (vs {o.n_comparison})  level {e.value:+.2f} [{e.ci_low:.2f}, {e.ci_high:.2f}]"
            f"  OEE {f.value * 100:+.1f} pp [{f.ci_low * 100:.1f}, {f.ci_high * 100:.1f}]"
            f"  KRW/level {cost:,.0f}"
            if cost
            else f"{o.programme}: n={o.n_with_data}  level {e.value:+.2f} [{e.ci_low:.2f}, {e.ci_high:.2f}]"
        )


def print_cmd(
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    out: Annotated[Path, typer.Option("--out", help=ut("opt_out"))] = Path("region-report.pdf"),
    lang: Annotated[str, typer.Option("--lang")] = "ko",
    k: Annotated[int, typer.Option("--k")] = 5,
) -> None:
    from .published import build
    from .report_pdf import FontMissing, report_pdf

    if lang not in ("ko", "en"):
        err.print(f"[red]--lang: {lang!r}: ko or en[/]")
        raise typer.Exit(2)
    if k < 2:
        err.print(f"[red]--k: {k}: at least 2[/]")
        raise typer.Exit(2)
    with _region_db(store, commons) as db:
        pub = build(db, k)
    try:
        body = report_pdf(pub, lang, date.today())
    except FontMissing as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    out.write_bytes(body)
    console.print(
        ut("report_written", path=str(out), pages=body.count(b"/Type /Page") - body.count(b"/Type /Pages"))
    )


@consent_app.command("invite")
def invite_cmd(
    buyer: Annotated[str, typer.Option("--buyer")],
    supplier: Annotated[str, typer.Option("--supplier")],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    purpose: Annotated[str, typer.Option("--purpose")] = "supplier_development",
    now: NowOpt = None,
) -> None:
    from . import consent as cs

    with _region_db(store, commons) as db:
        inv = cs.invite(db, buyer, supplier, _now(now), purpose)
    print(inv.model_dump_json())


@consent_app.command("grant")
def grant_cmd(
    supplier: Annotated[str, typer.Option("--supplier")],
    buyer: Annotated[str, typer.Option("--buyer")],
    kpis: Annotated[str, typer.Option("--kpis", help="comma-separated: overall_level,oee,maturity_domains")],
    until: Annotated[str, typer.Option("--until")],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    aggregation: Annotated[str, typer.Option("--aggregation")] = "yearly",
    purpose: Annotated[str, typer.Option("--purpose")] = "supplier_development",
    now: NowOpt = None,
) -> None:
    from . import consent as cs

    day = _day("--until", until)
    kpi_list = [x.strip() for x in kpis.split(",") if x.strip()]
    with _region_db(store, commons) as db:
        p = cs.grant(db, supplier, buyer, kpi_list, aggregation, purpose, day, _now(now))
    print(p.model_dump_json())


@consent_app.command("revoke")
def revoke_cmd(
    supplier: Annotated[str, typer.Option("--supplier")],
    policy: Annotated[str, typer.Option("--policy")],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    now: NowOpt = None,
) -> None:
    from . import consent as cs

    with _region_db(store, commons) as db:
        p = cs.revoke(db, supplier, policy, _now(now))
    print(p.model_dump_json())


@consent_app.command("view")
def view_cmd(
    buyer: Annotated[str, typer.Option("--buyer")],
    supplier: Annotated[str, typer.Option("--supplier")],
    store: StoreOpt = "factory.duckdb",
    commons: CommonsOpt = None,
    purpose: Annotated[str | None, typer.Option("--purpose")] = None,
    now: NowOpt = None,
) -> None:
    """What the supplier's policy in force lets the buyer see (the access is logged as the supplier's)."""
    from . import consent as cs

    who = os.environ.get("USER", "cli")
    with _region_db(store, commons) as db:
        try:
            view = cs.supplier_view(db, buyer, supplier, _now(now), who, "cli", purpose)
        except cs.ConsentDenied as e:  # before _region_db's ConsentError: its own exit code
            err.print(f"[red]{ut('consent_denied', why=e.why)}[/]")
            raise typer.Exit(3) from None
    print(json.dumps(view, ensure_ascii=False))
