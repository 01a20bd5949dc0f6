"""`factory-commons retrofit learn|infer|show|correct`: machine states and cycles from a clamp-on
current sensor, from the command line.

* `learn` learns a machine's current levels from its stored `current` signal and keeps the
  model in the store (`retrofit/records.py`);
* `infer` writes the inferred state changes and cycle counts (source "inferred"); running it
  again changes nothing; `infer --csv FILE` reads a file in the benchmark format (or just
  `ts,current_a`) instead, to check a new sensor in minutes, and scores it when the file
  holds the true states;
* `show` prints what was learned and found: levels, state shares, cycles, confidence;
* `correct` takes a person's word for a stretch ("this was running"), relearns and rewrites.

Without `--machine`, `learn`, `infer` and `show` take every machine with a current signal.
Times (`--from`, `--to`) are dates or ISO date-times; without a time zone they are the
plant's (Asia/Seoul).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..cli_common import SEOUL, StoreOpt, console, err, open_store_or_exit
from ..i18n import Catalog
from . import records
from .infer import STATES, CurrentModel, Inference

UI = Catalog("retrofit_ui")


def _t(key: str, **values: object) -> str:
    """A text of the `retrofit_ui` catalog, "Korean / English", `{name}` fields filled."""
    text = UI.both(key, " / ")
    return text.format(**values) if values else text


retrofit_app = typer.Typer(help=_t("cmd_retrofit"), no_args_is_help=True)

MachineOpt = Annotated[str | None, typer.Option("--machine", "-m", help=_t("opt_machine"))]
FromOpt = Annotated[str | None, typer.Option("--from", help=_t("opt_from"))]
ToOpt = Annotated[str | None, typer.Option("--to", help=_t("opt_to"))]
SignalOpt = Annotated[str, typer.Option("--signal", help=_t("opt_signal"))]


def parse_when(value: str | None, option: str) -> datetime | None:
    """A date (its midnight) or an ISO date-time; a naive one is plant time (Asia/Seoul)."""
    if value is None:
        return None
    try:
        if len(value.strip()) == 10:
            d = date.fromisoformat(value.strip())
            return datetime(d.year, d.month, d.day, tzinfo=SEOUL)
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        err.print(f"[red]{option}: {_t('bad_time')}:[/] {value!r}")
        raise typer.Exit(2) from None
    return t if t.tzinfo else t.replace(tzinfo=SEOUL)


def _machines(store, machine: str | None, signal: str) -> list[str]:
    found = records.current_machines(store, signal)
    if machine is None:
        if not found:
            err.print(f"[yellow]{_t('no_current_machines', signal=signal)}[/]")
            raise typer.Exit(1)
        return found
    if machine not in found:
        err.print(f"[red]--machine: {_t('no_current_signal', machine=machine, signal=signal)}[/]")
        raise typer.Exit(2)
    return [machine]


def _data(store, machine: str, start: datetime | None, end: datetime | None, signal: str):
    ts, amps = records.read_current(store, machine, start, end, signal)
    if len(ts) < 10:
        err.print(f"[red]{machine}: {_t('too_little_data', n=len(ts))}[/]")
        raise typer.Exit(1)
    return ts, amps


def _span(
    ts: np.ndarray, inf: Inference, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The range the inference covers: the options, else from the data's first sample to the
    end of its last (where the "no data" that follows it is written)."""

    def dt(x: np.datetime64) -> datetime:
        return datetime.fromtimestamp(x.astype("datetime64[us]").astype(np.int64) / 1e6, UTC)

    last = ts[-1] if inf.end is None else max(ts[-1], np.datetime64(inf.end, "us"))
    return start or dt(ts[0]), end or dt(last) + timedelta(microseconds=1)


def _learn(ts: np.ndarray, amps: np.ndarray, kind: str | None) -> CurrentModel:
    try:
        return CurrentModel.learn(ts, amps, kind=kind)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(1) from None


def _levels_text(model: CurrentModel) -> str:
    """The learned levels by state, lowest first: `off 0.00-0.02 A, idle 4.01 A, running 15.2 A`
    (a state held at several levels shows their range, not the state twice)."""
    amps: dict[str, list[float]] = {}
    for m, s in sorted(zip(model.means, model.level_states, strict=True)):
        amps.setdefault(s, []).append(float(np.exp(m)))
    return ", ".join(
        f"{s} {a[0]:.2f} A" if len(a) == 1 else f"{s} {a[0]:.2f}-{a[-1]:.2f} A ({len(a)})"
        for s, a in amps.items()
    )


def _summary_table(title: str) -> Table:
    table = Table(title=title)
    for key in ("col_machine", "col_off", "col_idle", "col_running", "col_cycles", "col_micro", "col_conf"):
        table.add_column(_t(key), justify="left" if key == "col_machine" else "right")
    return table


def _summary_row(machine: str, inf: Inference) -> list[str]:
    d = inf.durations()
    total = sum(v for k, v in d.items() if k in STATES) or 1.0
    conf = np.asarray(inf.confidence, dtype=float)
    weights = np.diff(np.append(inf.ts, inf.end if inf.end is not None else inf.ts[-1]).astype(np.int64))
    mean = float(np.average(conf, weights=np.maximum(weights, 1))) if len(conf) else float("nan")
    return [
        machine.rsplit("/", 1)[-1],  # the machine (or a file name): short enough for the table
        *(f"{100 * d.get(s, 0.0) / total:.1f} %" for s in STATES),
        f"{len(inf.cycles):,}",
        f"{len(inf.micro_stops):,}",
        f"{mean:.2f}",
    ]


@retrofit_app.command("learn", help=_t("cmd_learn"))
def learn(
    store: StoreOpt = "factory.duckdb",
    machine: MachineOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    kind: Annotated[str | None, typer.Option("--kind", help=_t("opt_kind"))] = None,
    signal: SignalOpt = records.SIGNAL,
) -> None:
    """Learn each machine's current levels from its own history; keep the model in the store."""
    s, e = parse_when(start, "--from"), parse_when(end, "--to")
    with open_store_or_exit(store) as st:
        for m in _machines(st, machine, signal):
            ts, amps = _data(st, m, s, e, signal)
            model = _learn(ts, amps, kind)
            records.save_model(st, m, model)
            console.print(f"[bold]{m}[/]: {_t('learned', n=len(ts))} - {_levels_text(model)}")


def _infer_one(st, m: str, s, e, signal: str, counts: bool) -> Inference:
    ts, amps = _data(st, m, s, e, signal)
    model = records.load_model(st, m)
    if model is None:
        model = _learn(ts, amps, None)
        records.save_model(st, m, model)
        console.print(f"{m}: {_t('learned_first')}")
    inf = model.infer(ts, amps)
    lo, hi = _span(ts, inf, s, e)
    w = records.write_inference(st, m, inf, lo, hi, counts=counts)
    if w.unchanged:
        console.print(f"{m}: {_t('unchanged')}")
    else:
        console.print(f"{m}: {_t('written', states=w.states, counts=w.counts, deleted=w.deleted_states)}")
    return inf


@retrofit_app.command("infer", help=_t("cmd_infer"))
def infer(
    store: Annotated[str | None, typer.Option("--store", "-s", help=_t("opt_store"))] = None,
    machine: MachineOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    csv: Annotated[Path | None, typer.Option("--csv", help=_t("opt_csv"))] = None,
    counts: Annotated[bool, typer.Option("--counts/--no-counts", help=_t("opt_counts"))] = True,
    signal: SignalOpt = records.SIGNAL,
) -> None:
    """Write the inferred states and cycle counts (idempotent), or check a CSV file."""
    if csv is not None:
        _infer_csv(csv)
        return
    if store is None:
        err.print(f"[red]{_t('store_or_csv')}[/]")
        raise typer.Exit(2)
    s, e = parse_when(start, "--from"), parse_when(end, "--to")
    with open_store_or_exit(store) as st:
        table = _summary_table(_t("inferred_title"))
        for m in _machines(st, machine, signal):
            table.add_row(*_summary_row(m, _infer_one(st, m, s, e, signal, counts)))
        console.print(table)


def _trace_columns(header: list[str]) -> tuple[str | None, str | None]:
    """The time and the amps columns of a sensor's file: `ts` and `current_a`, else a time column
    the file importer knows (`시각`, `일시`, `time`, `timestamp`) and a current sensor's column
    (`전류`, `전류(A)`, `current`, `Current (A)`, `amps`: collect/files_guess_words.py)."""
    import re

    from ..collect.files_guess import _is_current
    from ..collect.files_guess_words import ROLE_WORDS

    def key(c: str) -> str:
        return re.sub(r"[\s_\-.]", "", re.sub(r"\s*[\(\[].*?[\)\]]\s*", "", c)).lower()

    ts = "ts" if "ts" in header else next((c for c in header if key(c) in ROLE_WORDS["time"]), None)
    amps = "current_a" if "current_a" in header else next((c for c in header if _is_current(c)), None)
    return ts, amps


def read_any_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A benchmark file (ts, current_a, state, cycle) or a new sensor's (ts, current_a only):
    (ts UTC datetime64[us], amps, true state or None, cycle or None); ValueError names the file,
    line and field."""
    import pandas as pd

    from .traces import read_csv

    if not path.is_file():
        raise ValueError(f"{path}: {_t('no_such_file')}")
    from ..collect.files_read import detect_encoding

    enc = detect_encoding(path)  # UTF-8 (with or without BOM) or CP949, as the file importer reads
    try:
        header = pd.read_csv(path, nrows=0, encoding=enc).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {_t('unreadable')} ({exc})") from None
    if "state" in header and "cycle" in header:
        ts, amps, state, cycle = read_csv(path)
        return ts, amps, state, cycle
    ts_col, amp_col = _trace_columns(list(header))
    for col, found in (("ts", ts_col), ("current_a", amp_col)):
        if found is None:
            raise ValueError(f"{path}: {_t('missing_column', column=col)}")
    df = pd.read_csv(path, dtype={ts_col: str}, usecols=[ts_col, amp_col], encoding=enc)
    df = df.rename(columns={ts_col: "ts", amp_col: "current_a"})
    t = pd.to_datetime(df["ts"], utc=True, format="ISO8601", errors="coerce")
    amps = pd.to_numeric(df["current_a"], errors="coerce").to_numpy(dtype=np.float64)
    bad_t = t.isna().to_numpy()
    bad_a = df["current_a"].notna().to_numpy() & ~np.isfinite(amps) | (amps < 0)
    for bad, field, col in ((bad_t, "ts", df["ts"]), (bad_a, "current_a", df["current_a"])):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            why = _t("bad_value", field=field, value=col.iloc[i])
            raise ValueError(f"{path}: {_t('line', line=i + 2)}: {why}")
    ts = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    order = np.argsort(ts, kind="stable")
    return ts[order], amps[order], None, None


def one_per_time(ts: np.ndarray, *arrays: np.ndarray | None) -> tuple[int, np.ndarray, list]:
    """Sorted samples with the first of each time kept, as the store keeps one value per machine,
    signal and time: (samples dropped, ts, the arrays in the same order). A logger that writes
    whole seconds at 2 Hz gives two samples a time, which the cycle finder reads as one
    (150 cycles read as 66 before)."""
    keep = np.r_[True, ts[1:] != ts[:-1]] if len(ts) else np.ones(0, dtype=bool)
    dropped = int(len(ts) - keep.sum())
    if not dropped:
        return 0, ts, list(arrays)
    return dropped, ts[keep], [a if a is None else a[keep] for a in arrays]


def _infer_csv(path: Path) -> None:
    try:
        ts, amps, state, cycle = read_any_csv(path)
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    dropped, ts, (amps, state, cycle) = one_per_time(ts, amps, state, cycle)
    if dropped:
        err.print(f"[yellow]{path.name}: {_t('same_time_dropped', n=dropped)}[/]")
    model = _learn(ts, amps, None)
    inf = model.infer(ts, amps)
    console.print(f"[bold]{path.name}[/]: {_t('learned', n=len(ts))} - {_levels_text(model)}")
    table = _summary_table(_t("inferred_title"))
    table.add_row(*_summary_row(path.name, inf))
    console.print(table)
    if state is not None and cycle is not None:
        pred = inf.sample_states(ts)
        acc = float(np.mean(pred == state))
        recalls = [float(np.mean(pred[state == s] == s)) for s in STATES if np.any(state == s)]
        true_cycles = int(cycle[-1] - cycle[0]) + int(cycle[0] > 0)
        err_pct = 100.0 * (len(inf.cycles) - true_cycles) / max(true_cycles, 1)
        console.print(
            _t(
                "scored",
                accuracy=f"{acc:.3f}",
                balanced=f"{np.mean(recalls):.3f}",
                found=len(inf.cycles),
                true=true_cycles,
                error=f"{err_pct:+.1f}",
            )
        )


@retrofit_app.command("show", help=_t("cmd_show"))
def show(
    store: StoreOpt = "factory.duckdb",
    machine: MachineOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    signal: SignalOpt = records.SIGNAL,
) -> None:
    """Levels learned, state shares, cycles and confidence per machine (writes nothing)."""
    s, e = parse_when(start, "--from"), parse_when(end, "--to")
    with open_store_or_exit(store) as st:
        table = _summary_table(_t("show_title"))
        for m in _machines(st, machine, signal):
            ts, amps = _data(st, m, s, e, signal)
            model = records.load_model(st, m)
            if model is None:
                console.print(f"{m}: {_t('not_learned')}")
                model = CurrentModel.learn(ts, amps)
            inf = model.infer(ts, amps)
            period = f"{model.period_s:.1f} s" if model.period_s else "-"
            console.print(
                f"[bold]{m}[/]: {_levels_text(model)}; {_t('cycle_period')} {period}; "
                f"{_t('corrections')} {len(model.corrections)}"
            )
            table.add_row(*_summary_row(m, inf))
        console.print(table)


@retrofit_app.command("correct", help=_t("cmd_correct"))
def correct(
    machine: Annotated[str, typer.Option("--machine", "-m", help=_t("opt_machine"))],
    start: Annotated[str, typer.Option("--from", help=_t("opt_from"))],
    end: Annotated[str, typer.Option("--to", help=_t("opt_to"))],
    state: Annotated[str, typer.Option("--state", help=_t("opt_state"))],
    store: StoreOpt = "factory.duckdb",
    signal: SignalOpt = records.SIGNAL,
) -> None:
    """A person's correction of one stretch: kept in the model, relearned, states rewritten."""
    if state not in STATES:
        err.print(f"[red]--state: {_t('bad_state', state=state, allowed=', '.join(STATES))}[/]")
        raise typer.Exit(2)
    s, e = parse_when(start, "--from"), parse_when(end, "--to")
    assert s is not None and e is not None
    if e <= s:
        err.print(f"[red]--to: {_t('to_before_from')}[/]")
        raise typer.Exit(2)
    with open_store_or_exit(store) as st:
        [m] = _machines(st, machine, signal)
        ts, amps = _data(st, m, None, None, signal)
        model = records.load_model(st, m) or _learn(ts, amps, None)
        try:
            model = model.correct(s, e, state, ts, amps)
        except ValueError as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
        records.save_model(st, m, model)
        console.print(f"{m}: {_t('corrected', state=state)} - {_levels_text(model)}")
        _infer_one(st, m, None, None, signal, True)


def demo_sensor_window(start: datetime, days: int) -> tuple[datetime, datetime]:
    """When the demo's legacy machines carry a current sensor: the last weekday of the
    simulated days (or the last day), 07:00-17:30 plant time (switched off, start-up, the day
    shift with its breaks): enough to learn from, quick to learn."""
    first = start.astimezone(SEOUL)
    day = first + timedelta(days=days - 1)
    while day.weekday() >= 5 and day > first:
        day -= timedelta(days=1)
    a = max(day.replace(hour=7, minute=0, second=0, microsecond=0), first)
    return a, min(a + timedelta(hours=10.5), first + timedelta(days=days))


def demo_retrofit(store, out=console) -> None:
    """The demo's legacy machines: learn each current sensor's model and write its inferred
    states and cycle counts, so that the report shows their OEE beside the networked ones
    (over the hours their sensors were on, `demo_sensor_window`)."""
    table = _summary_table(_t("demo_title"))
    cycle_time = {x.path: x.default_ideal_cycle_time_s for x in store.machines()}
    for m in records.current_machines(store):
        ts, amps = records.read_current(store, m)
        if len(ts) < 10:
            continue
        model = CurrentModel.learn(ts, amps)
        records.save_model(store, m, model)
        inf = model.infer(ts, amps)
        lo, hi = _span(ts, inf, None, None)
        # parts only where they mean something: a compressor's load cycles are not parts
        records.write_inference(store, m, inf, lo, hi, counts=cycle_time.get(m) is not None)
        table.add_row(*_summary_row(m, inf))
    if table.row_count:
        out.print(table)


def register(app: typer.Typer) -> None:
    """Add the `retrofit` command group to `app`."""
    app.add_typer(retrofit_app, name="retrofit")
