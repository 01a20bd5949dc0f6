"""Command-line command for the server: `serve` (the users commands are accounts/cli.py).

`register(app)` adds them to the main `factory-commons` app. FastAPI and uvicorn are imported
inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ..accounts.cli import AccountsOpt, DatabaseOpt, StoreOpt, accounts_path
from ..cli_common import cli_text, console, err, mask_url

_WORKER_ENV = "FACTORY_COMMONS_SERVE"


def _warn_if_no_users(acc) -> None:
    if not acc.users():
        err.print(
            f"[yellow]{cli_text('no_users_yet')}:[/] "
            "factory-commons users create --firm NAME --enterprise NAME --email E --role owner"
        )


def _open_app(target: str, acc_path: str, secure_cookies: bool):
    """(app, store, accounts) of one server process: the store, its accounts and commons."""
    from ..accounts import Accounts
    from ..cooperate.db import default_commons_path
    from ..knowhow.db import default_knowhow_path
    from ..store import open_store
    from .app import create_app

    st = open_store(target)
    acc = Accounts(acc_path)
    from .web.upload import default_uploads_path

    app = create_app(
        st,
        acc,
        secure_cookies=secure_cookies,
        commons=default_commons_path(target),
        uploads=default_uploads_path(target),
        knowhow=default_knowhow_path(target),
    )
    return app, st, acc


def worker_app():
    """The app of one `serve --workers N` process, from the settings `serve` put in the
    environment (uvicorn imports this in each worker). On a DuckDB file the first worker to
    open it owns it and the others reach it through that one (store/remote.py), so their
    Python work runs in parallel and the queries in the owner."""
    cfg = json.loads(os.environ[_WORKER_ENV])
    return _open_app(cfg["target"], cfg["accounts"], cfg["secure_cookies"])[0]


def serve(
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
    host: Annotated[str, typer.Option(help=cli_text("opt_host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=cli_text("opt_port"))] = 8000,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help=cli_text("opt_secure_cookies"))
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help=cli_text("opt_workers"))] = 1,
) -> None:
    """Run the API server (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from ..accounts import Accounts

    target = database or store
    if workers > 1 and target.startswith(":memory:"):
        err.print(f"[red]{cli_text('workers_need_file')}[/]")
        raise typer.Exit(2)
    acc_path = accounts_path(store, database, accounts)
    if workers > 1:  # each worker process opens its own store, accounts and commons (worker_app)
        acc = Accounts(acc_path)
        try:
            _warn_if_no_users(acc)
        finally:
            acc.close()
        console.print(
            f"Factory Commons API: http://{host}:{port}/docs  ({workers} workers, store: {mask_url(target)})"
        )
        os.environ[_WORKER_ENV] = json.dumps(
            {"target": target, "accounts": acc_path, "secure_cookies": secure_cookies}
        )
        uvicorn.run(
            "factory_commons.server.cli:worker_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,  # X-Forwarded-For: only from FC_TRUSTED_PROXIES (server/ratelimit.py)
        )
        return
    app, st, acc = _open_app(target, acc_path, secure_cookies)
    _warn_if_no_users(acc)
    console.print(
        f"Factory Commons API: http://{host}:{port}/docs  (store: {mask_url(target)}, accounts: {mask_url(acc.path)})"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        acc.close()
        st.close()


def register(app: typer.Typer) -> None:
    """Add `serve` to `app`."""
    app.command("serve", help=cli_text("cmd_serve"))(serve)
