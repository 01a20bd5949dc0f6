"""Command-line commands for KPIs: `factory-commons kpi` (ISO 22400 KPIs of a store) and
`factory-commons downtime` (the downtime Pareto).

`register(app)` adds them to the main app (cli.py). Both read `--from`/`--to` as days of the
plant's time zone (`Store.plant_timezone`), print their result on stdout (a table, CSV or a
JSON array of records) and their warnings (kpi/plausibility.py), in Korean and English, on
stderr, so that `--format json` stays one JSON array a script can parse. pandas and the
engine are imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from ..cli_common import CLI, StoreOpt, cli_text, console, err, open_store_or_exit, parse_day
from ..i18n import Catalog

TEXTS = Catalog("kpi_cli")
FORMATS = ("table", "csv", "json")
FromOpt = Annotated[str | None, typer.Option("--from", help=TEXTS.both("opt_from", " / "))]
ToOpt = Annotated[str | None, typer.Option("--to", help=TEXTS.both("opt_to", " / "))]
ConfigOpt = Annotated[Path | None, typer.Option(help=cli_text("opt_kpi_config"))]
FormatOpt = Annotated[str, typer.Option("--format", help=cli_text("opt_format_table_csv_json"))]


def _text(key: str, **values) -> str:
    """A `kpi_cli` text in both languages ("Korean / English"), `{name}` fields filled."""
    return " / ".join(TEXTS.get(key, lang).format(**values) for lang in ("ko", "en"))


def _config(config: Path | None):
    """The KPI config of --config (exit 2 with the file's error)."""
    from .config import KpiConfig, KpiConfigError

    try:
        return KpiConfig.from_toml(config) if config else KpiConfig()
    except KpiConfigError as e:
        err.print(f"[red]{cli_text('kpi_config_error')}:[/] {escape(str(e))}")
        raise typer.Exit(2) from None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        err.print(f"[red]--format: {cli_text('must_be_one_of', allowed=', '.join(FORMATS), got=fmt)}[/]")
        raise typer.Exit(2)


def window(st, start: str | None, end: str | None) -> tuple[datetime, datetime, ZoneInfo]:
    """[start, end) of --from/--to, days of the plant's zone (`--to`: the day after the last);
    an option left out: from the first state change, to the last state change or count
    (a count stamped at the end belongs to the window). Exit 1 without any state data, exit 2
    when --to is not after --from."""
    tz = ZoneInfo(st.plant_timezone())
    s, e = parse_day(start, "--from"), parse_day(end, "--to")
    s = s.replace(tzinfo=tz) if s is not None else None
    e = e.replace(tzinfo=tz) if e is not None else None
    if s is None or e is None:
        rng = st.query(
            "SELECT (SELECT min(ts) FROM states) AS lo, (SELECT max(ts) FROM states) AS hi, "
            "(SELECT max(ts) FROM counts) AS c_hi"
        ).to_pylist()[0]
        if rng["lo"] is None:
            err.print(f"[yellow]{cli_text('no_state_data')}[/]")
            raise typer.Exit(1)
        s = s or rng["lo"].replace(tzinfo=UTC)
        if e is None:
            last = max(t for t in (rng["hi"], rng["c_hi"]) if t is not None).replace(tzinfo=UTC)
            e = last if last > s else s + timedelta(seconds=1)
    if not s < e:
        err.print(f"[red]{_text('to_before_from')}[/]")
        raise typer.Exit(2)
    return s, e, tz


def _print_warnings(warnings) -> None:
    """The warnings on stderr, one a line, Korean then English."""
    if not warnings:
        return
    err.print(f"[yellow]{_text('warnings')}:[/]")
    for w in warnings:
        err.print(f"[yellow]- {escape(w.ko)}[/]")
        err.print(f"  {escape(w.en)}")


def _is_nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _records(df) -> str:
    """The rows as a JSON array of records (NaN as null, dates and times as ISO text)."""
    return df.to_json(orient="records", date_format="iso", force_ascii=False)


def kpi(
    store: StoreOpt = "factory.duckdb",
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str, typer.Option(help=cli_text("opt_by"))] = "machine",
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """ISO 22400 KPIs (OEE, availability, ...) for a date range and grouping."""
    from rich.table import Table

    from ..report.console import head, pct
    from . import compute_kpis
    from .oee import GROUPS
    from .plausibility import plausibility

    groups = () if by == "plant" else tuple(g.strip() for g in by.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or len(set(groups)) != len(groups):
        allowed = ", ".join(sorted(GROUPS))
        err.print(f"[red]--by: {cli_text('unknown_grouping', bad=bad or list(groups), allowed=allowed)}[/]")
        raise typer.Exit(2)
    _check_format(fmt)
    cfg = _config(config)
    with open_store_or_exit(store) as st:
        s, e, tz = window(st, start, end)
        df = compute_kpis(st, s, e, groups, cfg)
        warnings = plausibility(df, groups, store=st, start=s, end=e, config=cfg)
        names = {m.path: m.display_name for m in st.machines()}
    if "day" in groups:  # an ISO date (YYYY-MM-DD), not a timestamp
        df["day"] = [None if _is_nan(d) else str(d) for d in df["day"]]
    if "machine" in groups:  # display names beside the paths
        df.insert(
            list(df.columns).index("machine") + 1, "display_name", [names.get(p) for p in df["machine"]]
        )
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
    elif fmt == "json":
        print(_records(df))
    else:
        title = TEXTS.get("kpi_title", "ko").format(
            start=f"{s.astimezone(tz):%Y-%m-%d %H:%M}", end=f"{e.astimezone(tz):%Y-%m-%d %H:%M}", zone=tz.key
        )
        t = Table(title=title)
        for g in groups:
            t.add_column(head(g), no_wrap=True)
        for k in (
            "oee",
            "availability",
            "effectiveness",
            "quality_ratio",
            "produced_quantity",
            "scrap_ratio",
        ):
            t.add_column(head(k), justify="right")
        unknown = False
        for _, r in df.iterrows():
            cells = [escape(_group_cell(g, r[g], names)) for g in groups]
            cells += [pct(r[k]) for k in ("oee", "availability", "effectiveness", "quality_ratio")]
            cells += [f"{int(r['produced_quantity']):,}", pct(r["scrap_ratio"])]
            unknown |= int(r["produced_quantity"]) > 0 and _is_nan(r["oee"])
            t.add_row(*cells)
        if unknown:
            t.caption = _text("unknown_reason")
        console.print(t)
    _print_warnings(warnings)


def _group_cell(group: str, value, names: dict[str, str | None] | None = None) -> str:
    """A group value as shown: a machine's display name (else the last level of its path), a
    line's last level; time outside every shift named as such."""
    if _is_nan(value):
        return CLI.both("unscheduled") if group in ("shift", "day") else "–"
    text = str(value)
    if group == "machine" and names and names.get(text):
        return str(names[text])
    return text.rsplit("/", 1)[-1] if group in ("machine", "line") else text


def downtime(
    store: StoreOpt = "factory.duckdb",
    start: FromOpt = None,
    end: ToOpt = None,
    by: Annotated[str, typer.Option(help=TEXTS.both("opt_downtime_by", " / "))] = "reason",
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
    top: Annotated[int | None, typer.Option(help=TEXTS.both("opt_top", " / "), min=1)] = None,
    firm: Annotated[str | None, typer.Option(help=TEXTS.both("opt_firm", " / "))] = None,
    accounts: Annotated[
        str | None, typer.Option("--accounts", help=TEXTS.both("opt_accounts", " / "))
    ] = None,
) -> None:
    """The downtime Pareto of a store: stop time by reason, machine or state, largest first.

    With --firm, the reason names come from the firm's own stop reasons (the list its
    operators pick from, in the accounts database) and only the firm's machines count."""
    from rich.table import Table

    from ..i18n import display
    from ..report.console import pct
    from .downtime import BY, downtime_pareto

    if by not in BY:
        err.print(f"[red]--by: {cli_text('must_be_one_of', allowed=', '.join(BY), got=by)}[/]")
        raise typer.Exit(2)
    _check_format(fmt)
    cfg = _config(config)
    reasons, enterprises = _firm_reasons(store, firm, accounts) if firm else ({}, None)
    with open_store_or_exit(store) as st:
        s, e, tz = window(st, start, end)
        machines = st.machines()
        paths = None
        if enterprises is not None:
            paths = [m.path for m in machines if m.path.split("/", 1)[0] in enterprises]
        df = downtime_pareto(st, s, e, cfg, machines=paths, by=by)
        if paths == []:  # a firm without machines here (None or [] is every machine to the Pareto)
            df = df.iloc[0:0]
        names = {m.path: m.display_name for m in machines}
    if top is not None:
        df = df.head(top)
    df = df.copy()
    df["hours"] = df["seconds"] / 3600
    # names in Korean and English beside the codes
    if by == "machine":
        df.insert(1, "display_name", [names.get(p) for p in df["machine"]])
    else:
        for col in [c for c in ("state", "reason") if c in df.columns]:
            codes = [None if c == "(none)" else c for c in df[col]]
            own = reasons if col == "reason" else {}
            df.insert(
                list(df.columns).index(col) + 1, f"{col}_ko", [_name(c, "ko", display, own) for c in codes]
            )
            df.insert(
                list(df.columns).index(col) + 2, f"{col}_en", [_name(c, "en", display, own) for c in codes]
            )
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
        return
    if fmt == "json":
        print(_records(df))
        return
    if not len(df):
        console.print(_text("no_downtime"))
        return
    title = TEXTS.get("pareto_title", "ko").format(
        start=f"{s.astimezone(tz):%Y-%m-%d %H:%M}", end=f"{e.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"
    )
    t = Table(title=title)
    heads = {"reason": ("reason", "state"), "state": ("state",), "machine": ("machine_name",)}[by]
    for h in heads:
        t.add_column(_head(h))
    for h in ("episodes", "duration_h", "share", "cumulative_share"):
        t.add_column(_head(h), justify="right")
    for _, r in df.iterrows():
        if by == "machine":
            cells = [escape(str(r["display_name"] or r["machine"]))]
        else:
            cells = [escape(_both(r[f"{c}_ko"], r[f"{c}_en"])) for c in heads]
        cells += [
            f"{int(r['episodes']):,}",
            f"{r['hours']:,.2f}",
            pct(r["share"]),
            pct(r["cumulative_share"]),
        ]
        t.add_row(*cells)
    console.print(t)


def _both(ko: str, en: str) -> str:
    """A name in Korean then English, once where both are the same (an unknown code)."""
    return ko if ko == en else f"{ko} {en}"


def _head(key: str) -> str:
    """A column header: Korean above English."""
    return TEXTS.both(key, "\n")


def _name(code: str | None, lang: str, display, own: dict[str, tuple[str, str]] | None = None) -> str:
    """A state or reason code's name in `lang`: the firm's own (`own`: code -> (Korean,
    English)), else the states catalog; a minor stop's from ours; an unknown code as it is."""
    if code == "micro_stop":
        return TEXTS.get("micro_stop", lang)
    if own and code in own:
        return own[code][0 if lang == "ko" else 1]
    return display(code, lang)


def _firm_reasons(store: str, firm: str, accounts: str | None) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """The firm's stop reasons (code -> (Korean, English); its own list, else the defaults its
    operators see) and its enterprises, from the accounts database (exit 2 when the firm is not
    there)."""
    from ..accounts import Accounts
    from ..accounts.db import default_accounts_path
    from ..accounts.stop_reasons import DEFAULT_STOP_REASONS, firm_stop_reasons

    path = accounts or default_accounts_path(store)
    if not path.startswith(("postgresql://", "postgres://")) and not Path(path).exists():
        err.print(f"[red]{escape(_text('unknown_firm', firm=firm, path=path))}[/]")
        raise typer.Exit(2)
    acc = Accounts(path)
    try:
        f = acc.firm_by_name(firm)
        if f is None:
            err.print(f"[red]{escape(_text('unknown_firm', firm=firm, path=path))}[/]")
            raise typer.Exit(2)
        own = firm_stop_reasons(acc, f.id, DEFAULT_STOP_REASONS)
    finally:
        acc.close()
    return {code: (ko, en) for code, ko, en in own}, set(f.enterprises)


def register(app: typer.Typer) -> None:
    """Add the KPI commands to the main app."""
    app.command("kpi", help=cli_text("cmd_kpi"))(kpi)
    app.command("downtime", help=TEXTS.both("cmd_downtime", " / "))(downtime)


__all__ = ["downtime", "kpi", "register", "window"]
