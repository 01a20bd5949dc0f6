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

    from ..cli import _open, _parse_day, err
    from .anomaly import DETECTORS
    from .anomaly_store import train_machine

    if detector not in DETECTORS:
        err.print(f"[red]--detector: unknown {detector!r}; known: {', '.join(DETECTORS)}[/]")
        raise typer.Exit(2)
    t0, t1 = _parse_day(start, "--from"), _parse_day(end, "--to")
    out = Console()
    with _open(store) as st:
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

    from ..cli import _open, _parse_day, err
    from .anomaly_alerts import describe
    from .anomaly_store import breakdowns_in_store, detect_machine, load_models, warnings_before
    from .base import ModelFileError

    t0, t1 = _parse_day(start, "--from"), _parse_day(end, "--to")
    try:
        models = load_models(model, machine)
    except ModelFileError as e:
        err.print(f"[red]모델 오류 / model error: {e}[/]")
        raise typer.Exit(2) from None
    alerts = []
    with _open(store) as st:
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


def register(app: typer.Typer) -> None:
    """Add the `ai` command group to `app` (once it has commands)."""
    if ai_app.registered_commands:
        app.add_typer(ai_app, name="ai")
