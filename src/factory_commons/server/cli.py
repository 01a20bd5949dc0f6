"""Command-line commands for the server: `serve` and `users` (create, list, token).

`register(app)` adds them to the main `factory-commons` app. FastAPI and uvicorn are imported
inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

StoreOpt = Annotated[str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="PostgreSQL URL (postgresql://...); replaces --store / PostgreSQL 주소"),
]
AccountsOpt = Annotated[
    str | None,
    typer.Option(
        "--accounts",
        help="accounts database (SQLite file or postgresql:// URL); default: <store>.accounts.sqlite, "
        "or schema fc_accounts of the --database / 계정 데이터베이스",
    ),
]


def _accounts_path(store: str, database: str | None, accounts: str | None) -> str:
    from .app import default_accounts_path

    return accounts or default_accounts_path(database or store)


def serve(
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on / 접속 주소")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port / 포트")] = 8000,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="mark cookies Secure (behind HTTPS) / HTTPS 전용 쿠키")
    ] = False,
) -> None:
    """API 서버 실행 / run the API server (OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    from ..store import open_store
    from .accounts import Accounts
    from .app import create_app

    target = database or store
    st = open_store(target)
    acc = Accounts(_accounts_path(store, database, accounts))
    if not acc.users():
        err.print(
            "[yellow]사용자가 없습니다. 먼저 만드세요 / no users yet; create one first:[/] "
            "factory-commons users create --firm NAME --enterprise NAME --email E --role owner"
        )
    console.print(f"Factory Commons API: http://{host}:{port}/docs  (store: {target}, accounts: {acc.path})")
    try:
        uvicorn.run(
            create_app(st, acc, secure_cookies=secure_cookies), host=host, port=port, log_level="info"
        )
    finally:
        acc.close()
        st.close()


users_app = typer.Typer(help="회사·사용자 관리 / firms, users and API tokens.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    firm: Annotated[str, typer.Option(help="firm name (created if new) / 회사 이름")],
    email: Annotated[str, typer.Option(help="login e-mail / 로그인 이메일")],
    role: Annotated[str, typer.Option(help="owner, engineer, operator, expert, regional_analyst, hub_admin")],
    enterprise: Annotated[
        list[str] | None,
        typer.Option(
            help="enterprise(s) a new firm owns: first segment of machine paths / 소유 기업(경로 첫 단계)"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="display name / 표시 이름")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """사용자 만들기 / create a user (and the firm, when it is new)."""
    from .accounts import ROLES, AccountError, Accounts

    if role not in ROLES:
        err.print(f"[red]역할 오류 / unknown role:[/] {role} ({', '.join(ROLES)})")
        raise typer.Exit(2)
    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        f = acc.firm_by_name(firm)
        if f is None:
            f = acc.create_firm(firm, list(enterprise or []))
            console.print(
                f"회사 생성 / firm created: {f.name} (enterprises: {', '.join(f.enterprises) or '-'})"
            )
        elif enterprise and set(enterprise) != set(f.enterprises):
            err.print(
                f"[red]회사가 이미 있습니다 / firm exists with enterprises:[/] {', '.join(f.enterprises)}"
            )
            raise typer.Exit(2)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = typer.prompt("비밀번호 / password", hide_input=True, confirmation_prompt=True)
        u = acc.create_user(f.id, email, name or email, role, password)
    except AccountError as e:
        err.print(f"[red]만들 수 없습니다 / cannot create:[/] {e}")
        raise typer.Exit(2) from None
    finally:
        acc.close()
    console.print(f"사용자 생성 / user created: {u.email} ({u.role}, firm {f.name}) in {acc.path}")


@users_app.command("list")
def users_list(
    store: StoreOpt = "factory.duckdb", database: DatabaseOpt = None, accounts: AccountsOpt = None
) -> None:
    """사용자 목록 / list firms and users."""
    from .accounts import Accounts

    acc = Accounts(_accounts_path(store, database, accounts))
    firms = {f.id: f for f in acc.firms()}
    t = Table("회사\nfirm", "기업\nenterprises", "이메일\ne-mail", "이름\nname", "역할\nrole")
    for u in acc.users():
        f = firms[u.firm_id]
        t.add_row(f.name, ", ".join(f.enterprises), u.email, u.display_name, u.role)
    acc.close()
    console.print(t)


@users_app.command("token")
def users_token(
    email: Annotated[str, typer.Option(help="the user the token acts as / 토큰 사용자")],
    name: Annotated[str, typer.Option(help="what the token is for / 용도")] = "script",
    store: StoreOpt = "factory.duckdb",
    database: DatabaseOpt = None,
    accounts: AccountsOpt = None,
) -> None:
    """API 토큰 발급 / print a new API token (shown once; stored hashed)."""
    from datetime import UTC, datetime

    from .accounts import Accounts

    acc = Accounts(_accounts_path(store, database, accounts))
    try:
        user = acc.user_by_email(email)
        if user is None:
            err.print(f"[red]사용자가 없습니다 / no such user:[/] {email}")
            raise typer.Exit(2)
        print(acc.create_token(user.id, name, datetime.now(UTC)))
    finally:
        acc.close()


def register(app: typer.Typer) -> None:
    """Add `serve` and `users` to `app`."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
