"""`factory-commons hub ...`: configs for NATS, the ingest workers, the edge forwarder, status.

`register(app)` adds the `hub` group to the main app; `python -m factory_commons.hub` runs the
same commands (the worker processes `ingest --workers N` starts).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..cli_common import console, err, mask_url
from .subjects import hub_text

hub_app = typer.Typer(help=hub_text("cmd_hub"), no_args_is_help=True)

CredsOpt = Annotated[Path, typer.Option("--creds", help=hub_text("opt_creds"))]
ServersOpt = Annotated[list[str] | None, typer.Option("--server", help=hub_text("opt_server"))]


def _creds(path: Path):
    from .natsconf import Credentials

    try:
        return Credentials.load(path)
    except ValueError as e:
        err.print(f"[red]{hub_text('bad_creds')}: {e}[/]")
        raise typer.Exit(2) from e


@hub_app.command("nats-config", help=hub_text("cmd_nats_config"))
def nats_config(
    out: Annotated[Path, typer.Option("--out", help=hub_text("opt_out_dir"))],
    firm: Annotated[list[str] | None, typer.Option("--firm", help=hub_text("opt_firm"))] = None,
    firms_file: Annotated[Path | None, typer.Option("--firms-file", help=hub_text("opt_firms_file"))] = None,
    server: ServersOpt = None,
) -> None:
    from .natsconf import accounts_conf, new_credentials
    from .subjects import check_firm

    names = list(firm or [])
    if firms_file is not None:
        for i, line in enumerate(firms_file.read_text(encoding="utf-8").splitlines(), 1):
            line = line.split("#")[0].strip()
            if line:
                try:
                    names.append(check_firm(line))
                except ValueError as e:
                    err.print(f"[red]{firms_file}:{i}: {e}[/]")
                    raise typer.Exit(2) from e
    try:
        users = new_credentials([check_firm(f) for f in names], tuple(server or ()))
    except ValueError as e:
        err.print(f"[red]{e}[/]")
        raise typer.Exit(2) from e
    out.mkdir(parents=True, exist_ok=True)
    (out / "accounts.conf").write_text(accounts_conf(users))
    for c in users:
        c.save(out / "creds" / f"{c.user}.json")
    console.print(hub_text("wrote_accounts", path=str(out), firms=len(users) - 2))


@hub_app.command("cluster-config", help=hub_text("cmd_cluster_config"))
def cluster_config(
    out: Annotated[Path, typer.Option("--out", help=hub_text("opt_out_dir"))],
    host: Annotated[list[str] | None, typer.Option("--host", help=hub_text("opt_host_node"))] = None,
    nodes: Annotated[int, typer.Option(min=1, help=hub_text("opt_nodes"))] = 3,
    client_port: Annotated[int, typer.Option(help=hub_text("opt_client_port"))] = 4222,
    store_dir: Annotated[str, typer.Option(help=hub_text("opt_store_dir"))] = "/var/lib/nats/jetstream",
    leaf_port: Annotated[int, typer.Option(help=hub_text("opt_leaf_port"))] = 7422,
) -> None:
    """One config per node: on separate hosts (--host a --host b --host c) with the standard
    ports, or all on one host with the ports counted up per node."""
    from .natsconf import Node, node_conf

    hosts = list(host or ["127.0.0.1"] * nodes)
    same = len(set(hosts)) == 1
    spec = [
        Node(
            name=f"n{i + 1}",
            host=h,
            client_port=client_port + (i if same else 0),
            cluster_port=6222 + (i if same else 0),
            monitor_port=8222 + (i if same else 0),
            leaf_port=leaf_port + (i if same else 0),
        )
        for i, h in enumerate(hosts)
    ]
    out.mkdir(parents=True, exist_ok=True)
    for n in spec:
        folder = f"{store_dir}/{n.name}" if same else store_dir
        (out / f"{n.name}.conf").write_text(node_conf(n, spec if len(spec) > 1 else [], folder))
    console.print(hub_text("wrote_cluster", path=str(out), nodes=len(spec)))


@hub_app.command("leaf-config", help=hub_text("cmd_leaf_config"))
def leaf_config(
    firm: Annotated[str, typer.Option("--firm", help=hub_text("opt_firm"))],
    creds: CredsOpt,
    hub: Annotated[list[str], typer.Option("--hub", help=hub_text("opt_hub_leaf"))],
    out: Annotated[Path, typer.Option("--out", help=hub_text("opt_out_file"))],
    listen: Annotated[str, typer.Option(help=hub_text("opt_listen"))] = "127.0.0.1:4222",
) -> None:
    from .natsconf import leaf_conf

    out.write_text(leaf_conf(firm, hub, _creds(creds), listen))
    out.chmod(0o600)
    console.print(str(out))


@hub_app.command("forward", help=hub_text("cmd_forward"))
def forward(
    buffer: Annotated[Path, typer.Option("--buffer", help=hub_text("opt_buffer"))],
    creds: CredsOpt,
    server: ServersOpt = None,
    late_after: Annotated[float, typer.Option(help=hub_text("opt_late_after"))] = 60.0,
    linger: Annotated[float, typer.Option(help=hub_text("opt_linger"))] = 0.0,
    once: Annotated[bool, typer.Option("--once", help=hub_text("opt_once"))] = False,
) -> None:
    from ..collect.buffer import Buffer
    from .edge import EdgeForwarder

    c = _creds(creds)
    if not c.firm:
        err.print(f"[red]{creds}: {hub_text('creds_not_firm')}[/]")
        raise typer.Exit(2)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        with Buffer(buffer) as buf:
            fwd = EdgeForwarder(
                buf, c.firm, c, servers=list(server or []) or None, late_after_s=late_after, linger_s=linger
            )
            task = asyncio.create_task(fwd.run(stop))
            last = 0.0
            while not task.done():
                await asyncio.sleep(0.2)
                if once and buf.pending_rows() == 0 and not buf.unforwarded_events():
                    stop.set()
                if time.monotonic() - last > 10:
                    last = time.monotonic()
                    s = fwd.stats
                    console.print(
                        hub_text(
                            "forward_status",
                            rows=s.rows,
                            pending=buf.pending_rows(),
                            late=s.late_rows,
                            errors=s.errors,
                        )
                        + (f"  ({s.last_error})" if s.last_error and not s.connected else "")
                    )
            await task

    asyncio.run(main())


def _ingest_args(ctx_args: dict) -> list[str]:
    out = []
    for key, value in ctx_args.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


@hub_app.command("ingest", help=hub_text("cmd_ingest"))
def ingest(
    creds: CredsOpt,
    database: Annotated[str, typer.Option("--database", help=hub_text("opt_database"))],
    server: ServersOpt = None,
    workers: Annotated[int, typer.Option(min=1, help=hub_text("opt_workers"))] = 1,
    schema_template: Annotated[str, typer.Option(help=hub_text("opt_schema_template"))] = "fc_{firm}",
    batch: Annotated[int, typer.Option(min=1, help=hub_text("opt_batch"))] = 2000,
    ack_wait: Annotated[float, typer.Option(help=hub_text("opt_ack_wait"))] = 30.0,
    replicas: Annotated[int, typer.Option(min=1, max=5, help=hub_text("opt_replicas"))] = 1,
    metrics_host: Annotated[str, typer.Option(help=hub_text("opt_metrics_host"))] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option(help=hub_text("opt_metrics_port"))] = 9465,
) -> None:
    """With --workers 1 this process is the worker; with N it starts N worker processes (metrics
    on consecutive ports) and starts again any that ends."""
    if "{firm}" in schema_template:
        try:
            schema_template.format(firm="x")
        except (KeyError, IndexError, ValueError) as e:
            err.print(f"[red]--schema-template {schema_template!r}: {e}[/]")
            raise typer.Exit(2) from e
    if workers > 1:
        _supervise(
            workers,
            dict(
                creds=creds,
                database=database,
                server=server,
                schema_template=schema_template,
                batch=batch,
                ack_wait=ack_wait,
                replicas=replicas,
                metrics_host=metrics_host,
            ),
            metrics_port,
        )
        return
    from .ingest import IngestWorker
    from .metrics import HubMetrics, serve_metrics

    metrics = HubMetrics()
    http = serve_metrics(metrics, metrics_host, metrics_port) if metrics_port else None
    worker = IngestWorker(
        _creds(creds),
        database,
        servers=list(server or []) or None,
        schema_template=schema_template,
        batch=batch,
        ack_wait_s=ack_wait,
        replicas=replicas,
        metrics=metrics,
        name=f"ingest-{os.getpid()}",
    )
    console.print(
        hub_text("ingest_started", database=mask_url(database), port=metrics_port, template=schema_template)
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        if http is not None:
            http.shutdown()


def _supervise(workers: int, args: dict, metrics_port: int) -> None:
    """N worker processes; one that ends is started again after a second."""
    procs: dict[int, subprocess.Popen] = {}

    def spawn(i: int) -> None:
        port = metrics_port + i if metrics_port else 0
        cmd = [sys.executable, "-m", "factory_commons.hub", "ingest", *_ingest_args(args)]
        procs[i] = subprocess.Popen([*cmd, "--workers", "1", "--metrics-port", str(port)])

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        spawn(i)
    while not stopping:
        time.sleep(0.5)
        for i, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                err.print(hub_text("worker_restarted", worker=i, code=p.returncode))
                time.sleep(1.0)
                spawn(i)
    for p in procs.values():
        p.terminate()
    for p in procs.values():
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


@hub_app.command("status", help=hub_text("cmd_status"))
def status(
    creds: CredsOpt,
    server: ServersOpt = None,
    metrics: Annotated[list[str] | None, typer.Option("--metrics", help=hub_text("opt_metrics_url"))] = None,
    as_json: Annotated[bool, typer.Option("--json", help=hub_text("opt_json"))] = False,
) -> None:
    from .status import hub_status

    c = _creds(creds)
    try:
        report = asyncio.run(hub_status(c, list(server or []) or None, list(metrics or [])))
    except Exception as e:  # noqa: BLE001 - tell the operator what failed
        err.print(f"[red]{hub_text('status_failed')}: {type(e).__name__}: {e}[/]")
        raise typer.Exit(1) from e
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    from .status import print_status

    print_status(report, console)


def register(app: typer.Typer) -> None:
    """Add the `hub` command group to `app`."""
    app.add_typer(hub_app, name="hub")
