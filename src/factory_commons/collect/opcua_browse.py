"""`factory-commons browse opc.tcp://host:port`: look into an OPC UA server to write the config.

Prints the address space below the Objects folder (or below `--path`, a browse path or node
id) as a tree with node ids, browse names, data types and current values; `--toml` prints a
ready-to-edit `[[opcua]]` table with one point per variable found, for plant.toml.
The server's own diagnostics object (`Server`, i=2253) is not expanded unless asked for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

SERVER_OBJECT = "i=2253"


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
    endpoint: str, path: str | None = None, depth: int = 3, timeout: float = 5.0, max_nodes: int = 2000
) -> Found:
    """Connect, walk the address space breadth-limited by `depth`, disconnect; return the tree."""
    from asyncua import Client

    from .opcua import OpcUaConnector, is_node_id

    client = Client(endpoint, timeout=timeout)
    await asyncio.wait_for(client.connect(), timeout=timeout + 1)
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
            branch.add("[dim]… (--depth / --path 로 더 보기 / more with --depth or --path)[/]")

    add(tree, root)
    return tree


def _variables(f: Found) -> list[Found]:
    out = [f] if f.node_class == "Variable" else []
    for c in f.children:
        out += _variables(c)
    return out


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_snippet(root: Found, endpoint: str, name: str = "opcua-1") -> str:
    """An `[[opcua]]` table with a point per variable: booleans as alarms, the rest as signals."""
    lines = [
        "# plant.toml — 설비 경로(machine)와 종류(kind)를 고쳐 쓰세요 / edit machine and kind",
        "[[opcua]]",
        f"name = {_toml_str(name)}",
        f"endpoint = {_toml_str(endpoint)}",
        "interval_ms = 500",
    ]
    for v in _variables(root):
        if v.node_id.startswith("i=") and v.browse_name.startswith("0:"):
            continue  # the server's own standard variables
        kind = "alarm" if v.data_type == "Boolean" else "signal"
        lines += [
            "",
            f"[opcua.points.{_toml_str(v.node_id)}]  # {v.data_type} = {_short(v.value)}",
            'machine = "<machine>"  # enterprise/site/area/line/machine',
            f'kind = "{kind}"  # signal | state | count | alarm | quality',
            f"name = {_toml_str(v.name)}",
        ]
    return "\n".join(lines) + "\n"


def browse(
    endpoint: Annotated[str, typer.Argument(help="opc.tcp://host:port[/path]")],
    depth: Annotated[int, typer.Option(help="levels below the start node / 탐색 깊이")] = 3,
    path: Annotated[
        str | None,
        typer.Option(help="start at this browse path (Press1/Motor) or node id / 시작 노드"),
    ] = None,
    toml: Annotated[bool, typer.Option("--toml", help="print a plant.toml snippet / 설정 예시 출력")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the server / 대기 시간(초)")] = 5.0,
) -> None:
    """Show an OPC UA server's nodes, types and values. / OPC UA 서버의 노드 탐색."""
    from asyncua import ua

    console, err = Console(), Console(stderr=True)
    if not endpoint.startswith("opc.tcp://"):
        err.print(
            f"[red]주소는 opc.tcp:// 로 시작해야 합니다 / the endpoint must start with opc.tcp://:[/] {endpoint}"
        )
        raise typer.Exit(2)
    try:
        root = asyncio.run(browse_server(endpoint, path, depth, timeout))
    except LookupError as e:
        err.print(f"[red]노드를 찾을 수 없습니다 / node not found:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    except ua.UaStatusCodeError as e:
        err.print(
            f"[red]서버가 거부했습니다 / the server refused:[/] {escape(type(e).__name__)} {escape(str(e))}"
        )
        raise typer.Exit(2) from None
    except (OSError, TimeoutError, ConnectionError, ua.UaError) as e:
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        err.print(
            f"[red]서버에 연결할 수 없습니다 / cannot connect to the server[/] {escape(endpoint)}: {escape(why)}\n"
            "주소·포트·방화벽을 확인하세요 / check the address, port and firewall"
        )
        raise typer.Exit(2) from None
    if toml:
        typer.echo(toml_snippet(root, endpoint))
    else:
        console.print(render_tree(root, endpoint))
