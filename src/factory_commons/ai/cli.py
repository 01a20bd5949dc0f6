"""Command-line commands for manufacturing AI: `factory-commons ai train|detect|rul`.

`register(app)` adds the `ai` command group to the main app. scikit-learn and LightGBM are
imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ..cli_common import cli_text
from ..i18n import STATES, Catalog

AI = Catalog("ai")
ai_app = typer.Typer(help=cli_text("ai_help"), no_args_is_help=True)


MachinesOpt = Annotated[list[str] | None, typer.Option("--machine", "-m", help=cli_text("opt_ai_machines"))]
FromOpt = Annotated[str | None, typer.Option("--from", help=cli_text("opt_ai_from"))]
ToOpt = Annotated[str | None, typer.Option("--to", help=cli_text("opt_ai_to"))]
ModelOpt = Annotated[Path, typer.Option("--model", help=cli_text("opt_ai_model"))]
StoreArg = Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store"))]


@ai_app.command("train", help=cli_text("cmd_ai_train"))
def train(
    store: StoreArg,
    machine: MachinesOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    model: ModelOpt = Path("models"),
    detector: Annotated[str, typer.Option(help=cli_text("opt_ai_detector"))] = "knn",
    days: Annotated[float, typer.Option(help=cli_text("opt_ai_days"))] = 3,
) -> None:
    """Train anomaly detectors on a period of normal operation."""
    from rich.console import Console

    from ..cli_common import err, open_store_or_exit, parse_day
    from .anomaly import DETECTORS
    from .anomaly_store import train_machine

    if detector not in DETECTORS:
        err.print(
            f"[red]--detector: {cli_text('unknown_detector', got=detector, known=', '.join(DETECTORS))}[/]"
        )
        raise typer.Exit(2)
    t0, t1 = parse_day(start, "--from"), parse_day(end, "--to")
    out = Console()
    with open_store_or_exit(store) as st:
        paths = machine or [m.path for m in st.machines()]
        for path in paths:
            try:
                fitted, folder = train_machine(st, path, model, t0, t1, detector=detector, train_days=days)
            except ValueError as e:
                err.print(f"[red]{cli_text('training_failed')}: {e}[/]")
                raise typer.Exit(2) from None
            out.print(
                f"{cli_text('trained')} {fitted.method} for {path}: {fitted.meta['train_rows']} rows, "
                f"{fitted.meta['train_from'][:16]} .. {fitted.meta['train_to'][:16]} UTC, "
                f"threshold {fitted.threshold:.3g} -> {folder}"
            )


@ai_app.command("detect", help=cli_text("cmd_ai_detect"))
def detect(
    store: StoreArg,
    machine: MachinesOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    model: ModelOpt = Path("models"),
    write: Annotated[bool, typer.Option(help=cli_text("opt_ai_write"))] = True,
) -> None:
    """Score signals, store alerts with their evidence, print them."""
    from rich.console import Console
    from rich.table import Table

    from ..cli_common import err, open_store_or_exit, parse_day
    from .anomaly_alerts import describe
    from .anomaly_store import breakdowns_in_store, detect_machine, load_models, warnings_before
    from .base import ModelFileError

    t0, t1 = parse_day(start, "--from"), parse_day(end, "--to")
    try:
        models = load_models(model, machine)
    except ModelFileError as e:
        err.print(f"[red]{cli_text('model_error')}: {e}[/]")
        raise typer.Exit(2) from None
    alerts = []
    with open_store_or_exit(store) as st:
        for path, fitted in models.items():
            try:
                alerts += detect_machine(st, path, fitted, t0, t1)
            except ValueError as e:
                err.print(f"[red]{path}: {e}[/]")
                raise typer.Exit(2) from None
        written = st.write(alerts).get("anomaly") if write and alerts else None
        # breakdowns after the training period, and how long before each the first alert came
        trained_to = [m.meta["train_to"] for m in models.values() if m.meta.get("train_to")]
        since = t0 or (datetime.fromisoformat(min(trained_to)) if trained_to else None)
        warnings = warnings_before(alerts, breakdowns_in_store(st, list(models), since, t1))
    table = Table(title=f"{cli_text('anomalies')}: {len(alerts)}")
    for col in ("col_machine", "col_start_utc", "col_end", "col_score", "col_threshold", "col_top_signals"):
        table.add_column(cli_text(col))
    for a in alerts:
        table.add_row(
            a.machine.rsplit("/", 1)[-1],
            f"{a.ts:%Y-%m-%d %H:%M}",
            f"{a.ts_end:%H:%M}" if a.ts_end else "",
            f"{a.score:.3g}",
            f"{a.threshold:.3g}",
            describe(json.loads(a.evidence)),
        )
    out = Console(width=140)
    out.print(table)
    if written is not None:
        out.print(cli_text("stored_anomalies", written=written.written, duplicates=written.duplicates))
    if warnings:
        lead = Table(title=cli_text("warnings_before"))
        for col in ("col_machine", "col_breakdown_utc", "col_reason", "col_first_alert", "col_lead"):
            lead.add_column(cli_text(col))
        for w in warnings:
            hours = "" if w.lead is None else f"{w.lead.total_seconds() / 3600:.1f} h"
            lead.add_row(
                w.machine.rsplit("/", 1)[-1],
                f"{w.breakdown:%Y-%m-%d %H:%M}",
                STATES.both(w.reason_code, " / ") if w.reason_code else "",
                f"{w.first_alert:%Y-%m-%d %H:%M}" if w.first_alert else f"[red]{cli_text('none')}[/]",
                hours,
            )
        flagged = sum(w.first_alert is not None for w in warnings)
        out.print(lead)
        out.print(f"{cli_text('breakdowns_warned')}: {flagged} / {len(warnings)}")


@ai_app.command("train-rul", help=cli_text("cmd_ai_train_rul"))
def train_rul(
    store: StoreArg,
    machine: MachinesOpt = None,
    model: ModelOpt = Path("models/rul"),
    reasons: Annotated[str | None, typer.Option(help=cli_text("opt_rul_reasons"))] = None,
    r_early: Annotated[float, typer.Option(help=cli_text("opt_rul_r_early"))] = 48.0,
) -> None:
    """Train a remaining-useful-life model on the store's runs to failure."""
    from rich.console import Console

    from ..cli_common import err, open_store_or_exit
    from .base import save_model
    from .rul_store import train_store

    wear = [r.strip() for r in reasons.split(",") if r.strip()] if reasons else None
    with open_store_or_exit(store) as st:
        try:
            fitted = train_store(st, machine, wear, r_early=r_early)
        except ValueError as e:
            err.print(f"[red]{cli_text('training_failed')}: {e}[/]")
            raise typer.Exit(2) from None
    save_model(fitted, model)
    i = fitted.info
    Console().print(
        f"{cli_text('trained')} gbm_rul: {i['store']['failures']} runs to failure, {i['units']} runs, {i['rows']} hours, "
        f"validation RMSE {i['oof_rmse_clipped']:.1f} h (held-out runs, target clipped at {fitted.r_early:g} h), "
        f"{i['train_seconds']:.0f} s -> {model}"
    )


@ai_app.command("rul", help=cli_text("cmd_ai_rul"))
def rul(
    store: StoreArg,
    machine: MachinesOpt = None,
    model: Annotated[Path | None, typer.Option("--model", help=cli_text("opt_rul_model"))] = None,
    coverage: Annotated[float, typer.Option(help=cli_text("opt_rul_coverage"))] = 0.8,
) -> None:
    """Remaining useful life per machine in hours, with a band."""
    from rich.console import Console
    from rich.table import Table

    from ..cli_common import err, open_store_or_exit
    from .base import ModelFileError, load_model
    from .rul import GbmRul
    from .rul_store import predict_store, train_store

    if not 0 < coverage < 1:
        err.print(f"[red]--coverage: {cli_text('coverage_range', got=coverage)}[/]")
        raise typer.Exit(2)
    with open_store_or_exit(store) as st:
        try:
            if model is not None:
                fitted = load_model(model)
                if not isinstance(fitted, GbmRul):
                    raise ModelFileError(f"{model}: method {fitted.method!r} is not a RUL model")
            else:
                fitted = train_store(st)
            estimates = predict_store(st, fitted, machine, coverage)
        except (ValueError, ModelFileError) as e:
            err.print(f"[red]{cli_text('rul_failed')}: {e}[/]")
            raise typer.Exit(2) from None
    cap = fitted.r_early
    table = Table(title=cli_text("rul_title", coverage=coverage, cap=cap))
    for col in ("col_machine", "col_at_utc", "col_run_h", "RUL h", "col_band_h", "col_status"):
        table.add_column(col if col == "RUL h" else cli_text(col))
    for e in sorted(estimates, key=lambda e: e.rul_h):
        status = f"[yellow]{cli_text('wearing')}[/]" if e.wearing else cli_text("no_wear")
        # no wear seen: "more than N" (N the band's lower bound) and an open band, not a capped number
        rul_text = AI.both("rul_more_than", " / ").format(n=e.low_h) if e.open_ended else f"{e.rul_h:.0f}"
        band = f"{e.low_h:.0f}-{e.high_h:.0f}" if math.isfinite(e.high_h) else f"{e.low_h:.0f}-"
        table.add_row(
            e.machine.rsplit("/", 1)[-1],
            f"{e.at:%Y-%m-%d %H:%M}",
            f"{e.run_hours:.0f}",
            rul_text,
            band,
            status,
        )
    Console(width=140).print(table)


def register(app: typer.Typer) -> None:
    """Add the `ai` command group to `app` (once it has commands)."""
    if ai_app.registered_commands:
        app.add_typer(ai_app, name="ai")
