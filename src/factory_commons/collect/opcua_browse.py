"""`factory-commons browse opc.tcp://host:port`: look into an OPC UA server to write the config.

Prints the address space below the Objects folder (or below `--path`, a browse path or node
id) as a tree with node ids, browse names, data types and current values; `--toml` prints a
ready-to-edit `[[opcua]]` table with one point per variable found, for plant.toml, with a
kind guessed from the data type and name (`suggest_kind`).
The server's own diagnostics object (`Server`, i=2253) is not expanded unless asked for.
The default depth (6) reaches variables a few folders down (Objects/Plant/Line1/Press1/Temp);
`max_nodes` bounds the walk. A server that wants a user gets `--user` and a password from
`--password`, the environment variable FC_OPCUA_PASSWORD, `--password-file` or `--password-stdin`.
A secured server gets `--security Basic256Sha256,SignAndEncrypt` (see `opcua_security`): our
certificate is `--cert`/`--key` or generated into `--pki` (default `opcua-pki` in the current
folder, the same layout as the collector's), and the server's certificate must be in its
`trusted/` folder.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ..cli_common import cli_text
from .files_read import collect_text
from .opcua_security import OPCUA, Security, SecurityProblem

SERVER_OBJECT = "i=2253"
DEFAULT_DEPTH = 6
PASSWORD_ENV = "FC_OPCUA_PASSWORD"
COUNTER_NAME = re.compile(r"count|counter|parts|pieces|total|qty|수량|생산량|카운트", re.I)
INTEGER_TYPES = {"SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64"}


@dataclass
class Found:
    """One node of the browsed address space."""

    node_id: str
    browse_name: str  # "ns:Name"
    name: str
    node_class: str
    data_type: str = ""
    value: Any = None
    error: str = ""
    children: list[Found] = field(default_factory=list)
    truncated: bool = False


async def _describe(client: Any, node: Any) -> Found:
    from asyncua import ua

    bn = await node.read_browse_name()
    nc = await node.read_node_class()
    f = Found(node.nodeid.to_string(), f"{bn.NamespaceIndex}:{bn.Name}", bn.Name, nc.name)
    if nc == ua.NodeClass.Variable:
        try:
            dt = await node.read_data_type()
            if dt.NamespaceIndex == 0 and dt.Identifier in ua.ObjectIdNames:
                f.data_type = ua.ObjectIdNames[dt.Identifier]
            else:
                f.data_type = (await client.get_node(dt).read_browse_name()).Name
        except Exception as e:  # noqa: BLE001
            f.data_type = f"? ({type(e).__name__})"
        try:
            f.value = await node.read_value()
        except ua.UaStatusCodeError as e:
            f.error = type(e).__name__
    return f


async def browse_server(
    endpoint: str,
    path: str | None = None,
    depth: int = DEFAULT_DEPTH,
    timeout: float = 5.0,
    max_nodes: int = 2000,
    user: str | None = None,
    password: str | None = None,
    security: Security | None = None,
) -> Found:
    """Connect, walk the address space breadth-limited by `depth`, disconnect; return the tree."""
    from asyncua import Client, ua

    from .opcua import OpcUaConnector, _quiet_library_logs, is_node_id
    from .opcua_security import OUR_CERT_REFUSED, apply, our_cert_refused, unsecured_refused

    _quiet_library_logs("asyncua")  # no "Requested session timeout ..." warning on the terminal
    client = Client(endpoint, timeout=timeout)
    client.session_timeout = 60_000  # a browse is short; most servers grant this as asked
    if user:
        client.set_user(user)
    if password:
        client.set_password(password)
    security = security or Security()
    await asyncio.wait_for(apply(client, security, endpoint), timeout=timeout + 1)
    try:
        await asyncio.wait_for(client.connect(), timeout=timeout + 1)
    except ua.UaError as e:
        await unsecured_refused(client, security, endpoint, e)
        if not isinstance(e, ua.UaStatusCodeError):
            raise
        if security.secured and type(e).__name__ in OUR_CERT_REFUSED:
            raise SecurityProblem(our_cert_refused(security, type(e).__name__)) from None
        raise
    try:
        if path:
            start = (
                client.get_node(path) if is_node_id(path) else await OpcUaConnector._browse_path(client, path)
            )
        else:
            start = client.nodes.objects
        count = 0

        async def walk(node: Any, level: int) -> Found:
            nonlocal count
            count += 1
            f = await _describe(client, node)
            expand = level < depth and (f.node_id != SERVER_OBJECT or path == SERVER_OBJECT)
            if expand:
                for child in await node.get_children():
                    if count >= max_nodes:
                        f.truncated = True
                        break
                    f.children.append(await walk(child, level + 1))
            elif f.node_class == "Object":
                f.truncated = bool(await node.get_children())
            return f

        return await walk(start, 0)
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=2)
        except Exception:  # noqa: BLE001 - leaving anyway
            pass


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def render_tree(root: Found, endpoint: str) -> Tree:
    tree = Tree(f"[bold]{escape(endpoint)}[/]")

    def add(parent: Tree, f: Found) -> None:
        label = f"[bold]{escape(f.name)}[/]  [cyan]{escape(f.node_id)}[/]  [dim]{escape(f.browse_name)}[/]"
        if f.node_class == "Variable":
            shown = f"[red]{escape(f.error)}[/]" if f.error else escape(_short(f.value))
            label += f"  [green]{escape(f.data_type)}[/] = {shown}"
        elif f.node_class != "Object":
            label += f"  [dim]{f.node_class}[/]"
        branch = parent.add(label)
        for c in f.children:
            add(branch, c)
        if f.truncated:
            branch.add(f"[dim]… ({escape(cli_text('browse_more'))})[/]")

    add(tree, root)
    return tree


def _variables(f: Found) -> list[Found]:
    out = [f] if f.node_class == "Variable" else []
    for c in f.children:
        out += _variables(c)
    return out


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def suggest_kind(v: Found) -> tuple[str, list[str]]:
    """The kind of record a variable most likely is, and the extra TOML lines it needs:
    Boolean -> alarm; an integer named like a counter (PartCount, 생산량) -> count with
    `counter = "total"`; String -> state (a state name); anything else -> signal."""
    if v.data_type == "Boolean":
        return "alarm", []
    if v.data_type in INTEGER_TYPES and COUNTER_NAME.search(v.name):
        return "count", [
            'counter = "total"  # a running total; "increment" if it counts since the last value'
        ]
    if v.data_type in ("String", "LocalizedText"):
        return "state", ["# state_codes = { ... }  # if the text is not a state name (running, idle, ...)"]
    return "signal", []


def toml_snippet(root: Found, endpoint: str, name: str = "opcua-1") -> str:
    """An `[[opcua]]` table with a point per variable, each with the kind `suggest_kind` gives."""
    lines = [
        f"# plant.toml — {collect_text('opcua_toml_header')}",
        "[[opcua]]",
        f"name = {_toml_str(name)}",
        f"endpoint = {_toml_str(endpoint)}",
        "interval_ms = 500",
    ]
    for v in _variables(root):
        if v.node_id.startswith("i=") and v.browse_name.startswith("0:"):
            continue  # the server's own standard variables
        kind, extra = suggest_kind(v)
        lines += [
            "",
            f"[opcua.points.{_toml_str(v.node_id)}]  # {v.data_type} = {_short(v.value)}",
            'machine = "<machine>"  # enterprise/site/area/line/machine',
            f'kind = "{kind}"  # signal | state | count | alarm | quality',
        ]
        if kind in ("signal", "alarm", "quality"):
            lines.append(f"name = {_toml_str(v.name)}")
        else:
            lines.append(f"# {v.name}")
        lines += extra
    return "\n".join(lines) + "\n"


def _password(password: str | None, from_stdin: bool, from_file: str | None = None) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if from_file:
        from .opcua_security import read_password

        return read_password(None, None, from_file, "--password-file")
    return password


def _security(spec: str, pki: str, cert: str | None, key: str | None) -> Security:
    """`Basic256Sha256,SignAndEncrypt` (the mode may be left out: SignAndEncrypt) -> Security."""
    policy, _, mode = spec.partition(",")
    if bool(cert) != bool(key):
        raise SecurityProblem("--cert and --key go together")
    return Security(policy.strip() or "None", mode.strip() or "SignAndEncrypt", cert, key, pki)


def browse(
    endpoint: Annotated[str, typer.Argument(help="opc.tcp://host:port or opc.tcp://host:port/path")],
    depth: Annotated[int, typer.Option(help=cli_text("opt_browse_depth"))] = DEFAULT_DEPTH,
    path: Annotated[str | None, typer.Option(help=cli_text("opt_browse_path"))] = None,
    toml: Annotated[bool, typer.Option("--toml", help=cli_text("opt_browse_toml"))] = False,
    timeout: Annotated[float, typer.Option(help=cli_text("opt_browse_timeout"))] = 5.0,
    user: Annotated[str | None, typer.Option("--user", "-u", help=cli_text("opt_browse_user"))] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar=PASSWORD_ENV, show_envvar=False, help=cli_text("opt_browse_password")),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help=cli_text("opt_browse_password_stdin"))
    ] = False,
    password_file: Annotated[
        str | None, typer.Option("--password-file", help=OPCUA.both("opt_password_file", " / "))
    ] = None,
    security: Annotated[str, typer.Option("--security", help=OPCUA.both("opt_security", " / "))] = "None",
    pki: Annotated[str, typer.Option("--pki", help=OPCUA.both("opt_pki", " / "))] = "opcua-pki",
    cert: Annotated[str | None, typer.Option("--cert", help=OPCUA.both("opt_cert", " / "))] = None,
    key: Annotated[str | None, typer.Option("--key", help=OPCUA.both("opt_key", " / "))] = None,
) -> None:
    """Show an OPC UA server's nodes, types and values. / OPC UA 서버의 노드 탐색."""
    from asyncua import ua

    from .opcua import AUTH_REFUSED

    console, err = Console(), Console(stderr=True)
    if not endpoint.startswith("opc.tcp://"):
        err.print(f"[red]{escape(cli_text('browse_bad_endpoint'))}:[/] {escape(endpoint)}")
        raise typer.Exit(2)
    try:
        secret = _password(password, password_stdin, password_file)
        settings = _security(security, pki, cert, key)
        root = asyncio.run(
            browse_server(endpoint, path, depth, timeout, user=user, password=secret, security=settings)
        )
    except SecurityProblem as e:
        err.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(2) from None
    except LookupError as e:
        err.print(f"[red]{escape(cli_text('browse_node_not_found'))}:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    except ua.UaStatusCodeError as e:
        if type(e).__name__ in AUTH_REFUSED:
            err.print(f"[red]{escape(cli_text('browse_auth_failed'))}[/] ({escape(type(e).__name__)})")
        else:
            err.print(
                f"[red]{escape(cli_text('browse_refused'))}:[/] {escape(type(e).__name__)} {escape(str(e))}"
            )
        raise typer.Exit(2) from None
    except (OSError, TimeoutError, ConnectionError, ua.UaError) as e:
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        err.print(
            f"[red]{escape(cli_text('browse_cannot_connect'))}[/] {escape(endpoint)}: {escape(why)}\n"
            f"{escape(cli_text('browse_check_network'))}"
        )
        raise typer.Exit(2) from None
    if toml:
        typer.echo(toml_snippet(root, endpoint))
    else:
        console.print(render_tree(root, endpoint))
