"""Command-line commands for manufacturing AI: `factory-commons ai train|detect|rul`.

`register(app)` adds the `ai` command group to the main app. scikit-learn and LightGBM are
imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

ai_app = typer.Typer(
    help="이상 탐지·잔여 수명 / anomaly detection and remaining useful life", no_args_is_help=True
)


MachinesOpt = Annotated[
    list[str] | None,
    typer.Option("--machine", "-m", help="machine path (repeatable; default: all) / 설비 경로"),
]
FromOpt = Annotated[str | None, typer.Option("--from", help="start day YYYY-MM-DD (Asia/Seoul) / 시작일")]
ToOpt = Annotated[str | None, typer.Option("--to", help="end day YYYY-MM-DD, exclusive / 종료일(미포함)")]
ModelOpt = Annotated[Path, typer.Option("--model", help="model folder / 모델 폴더")]


@ai_app.command("train")
def train(
    store: Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")],
    machine: MachinesOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    model: ModelOpt = Path("models"),
    detector: Annotated[str, typer.Option(help="zscore, pca or knn (default) / 감지 방법")] = "knn",
    days: Annotated[float, typer.Option(help="days of normal operation when --to is not given")] = 3,
) -> None:
    """Train anomaly detectors on a period of normal operation. / 정상 구간으로 이상 감지 모델 학습."""
    from rich.console import Console

    from ..cli_common import err, open_store_or_exit, parse_day
    from .anomaly import DETECTORS
    from .anomaly_store import train_machine

    if detector not in DETECTORS:
        err.print(f"[red]--detector: unknown {detector!r}; known: {', '.join(DETECTORS)}[/]")
        raise typer.Exit(2)
    t0, t1 = parse_day(start, "--from"), parse_day(end, "--to")
    out = Console()
    with open_store_or_exit(store) as st:
        paths = machine or [m.path for m in st.machines()]
        for path in paths:
            try:
                fitted, folder = train_machine(st, path, model, t0, t1, detector=detector, train_days=days)
            except ValueError as e:
                err.print(f"[red]학습 실패 / training failed: {e}[/]")
                raise typer.Exit(2) from None
            out.print(
                f"학습 완료 / trained {fitted.method} for {path}: {fitted.meta['train_rows']} rows, "
                f"{fitted.meta['train_from'][:16]} .. {fitted.meta['train_to'][:16]} UTC, "
                f"threshold {fitted.threshold:.3g} -> {folder}"
            )


@ai_app.command("detect")
def detect(
    store: Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")],
    machine: MachinesOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    model: ModelOpt = Path("models"),
    write: Annotated[bool, typer.Option(help="store the alerts as anomaly records / 알림 저장")] = True,
) -> None:
    """Score signals, store alerts with their evidence, print them. / 이상 감지 실행·알림 저장."""
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
        err.print(f"[red]모델 오류 / model error: {e}[/]")
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
    table = Table(title=f"이상 감지 / anomalies: {len(alerts)}")
    for col in (
        "설비 / machine",
        "시작 / start (UTC)",
        "끝 / end",
        "점수 / score",
        "기준 / threshold",
        "주요 신호 / top signals",
    ):
        table.add_column(col)
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
        out.print(
            f"저장 / stored: {written.written} new anomaly records ({written.duplicates} already there)"
        )
    if warnings:
        lead = Table(title="고장 전 경보 / warnings before breakdowns (48 h look-back)")
        for col in (
            "설비 / machine",
            "고장 / breakdown (UTC)",
            "사유 / reason",
            "첫 경보 / first alert",
            "선행 / lead",
        ):
            lead.add_column(col)
        for w in warnings:
            hours = "" if w.lead is None else f"{w.lead.total_seconds() / 3600:.1f} h"
            lead.add_row(
                w.machine.rsplit("/", 1)[-1],
                f"{w.breakdown:%Y-%m-%d %H:%M}",
                w.reason_code or "",
                f"{w.first_alert:%Y-%m-%d %H:%M}" if w.first_alert else "[red]없음 / none[/]",
                hours,
            )
        flagged = sum(w.first_alert is not None for w in warnings)
        out.print(lead)
        out.print(f"경보 후 고장 / breakdowns warned of: {flagged} / {len(warnings)}")


@ai_app.command("train-rul")
def train_rul(
    store: Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")],
    machine: MachinesOpt = None,
    model: ModelOpt = Path("models/rul"),
    reasons: Annotated[
        str | None,
        typer.Option(
            help="wear-type breakdown reasons, comma-separated (default: the demo plant's) / 마모성 고장 사유"
        ),
    ] = None,
    r_early: Annotated[float, typer.Option(help="R_early in hours: the longest RUL the model states")] = 48.0,
) -> None:
    """Train a remaining-useful-life model on the store's runs to failure. / 잔여 수명 모델 학습."""
    from rich.console import Console

    from ..cli_common import err, open_store_or_exit
    from .base import save_model
    from .rul_store import train_store

    wear = [r.strip() for r in reasons.split(",") if r.strip()] if reasons else None
    with open_store_or_exit(store) as st:
        try:
            fitted = train_store(st, machine, wear, r_early=r_early)
        except ValueError as e:
            err.print(f"[red]학습 실패 / training failed: {e}[/]")
            raise typer.Exit(2) from None
    save_model(fitted, model)
    i = fitted.info
    Console().print(
        f"학습 완료 / trained gbm_rul: {i['store']['failures']} runs to failure, {i['units']} runs, {i['rows']} hours, "
        f"validation RMSE {i['oof_rmse_clipped']:.1f} h (held-out runs, target clipped at {fitted.r_early:g} h), "
        f"{i['train_seconds']:.0f} s -> {model}"
    )


@ai_app.command("rul")
def rul(
    store: Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")],
    machine: MachinesOpt = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="model folder from train-rul (default: train on the store now)"),
    ] = None,
    coverage: Annotated[float, typer.Option(help="share the band should hold / 구간 신뢰수준")] = 0.8,
) -> None:
    """Remaining useful life per machine in hours, with a band. / 설비별 잔여 수명(시간)."""
    from rich.console import Console
    from rich.table import Table

    from ..cli_common import err, open_store_or_exit
    from .base import ModelFileError, load_model
    from .rul import GbmRul
    from .rul_store import predict_store, train_store

    if not 0 < coverage < 1:
        err.print(f"[red]--coverage must be between 0 and 1, got {coverage}[/]")
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
            err.print(f"[red]잔여 수명 오류 / RUL failed: {e}[/]")
            raise typer.Exit(2) from None
    cap = fitted.r_early
    table = Table(
        title=f"잔여 수명 / remaining useful life (h, {coverage:.0%} band; at most {cap:g} h is stated)"
    )
    for col in (
        "설비 / machine",
        "기준 시각 / at (UTC)",
        "가동 / run h",
        "RUL h",
        "구간 / band h",
        "상태 / status",
    ):
        table.add_column(col)
    for e in sorted(estimates, key=lambda e: e.rul_h):
        status = "[yellow]마모 징후 / wearing[/]" if e.wearing else "이상 없음 / no sign of wear"
        rul_text = f"{e.rul_h:.0f}" if e.wearing else f">= {e.rul_h:.0f}"
        table.add_row(
            e.machine.rsplit("/", 1)[-1],
            f"{e.at:%Y-%m-%d %H:%M}",
            f"{e.run_hours:.0f}",
            rul_text,
            f"{e.low_h:.0f}-{e.high_h:.0f}",
            status,
        )
    Console(width=140).print(table)


def register(app: typer.Typer) -> None:
    """Add the `ai` command group to `app` (once it has commands)."""
    if ai_app.registered_commands:
        app.add_typer(ai_app, name="ai")
