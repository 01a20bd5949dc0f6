"""One process owns the store file; the others talk to it over Arrow Flight on localhost.

DuckDB lets one process at a time open a database file while it writes, so the collector,
the server and the CLI cannot each open `factory.duckdb`. Instead the first process to open
the file owns it: it serves the store over Arrow Flight on 127.0.0.1 and writes where to find
it, with a random token, next to the file (`<file>.owner.json`, mode 0600). Every other
process that opens the same path gets a `RemoteStore`, which speaks the same `Store`
interface and forwards each call to the owner: batches go over as Arrow record batches
(`do_put`), query results come back as Arrow record batches (`do_get`), everything small is a
JSON action (`do_action`). When the owner closes, it removes the owner file and releases the
lock, and the next process to open the path becomes the owner.

`open_store` in `factory_commons.store` does the choosing; see docs/store.md.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import dataclasses
import functools
import hmac
import json
import os
import re
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.flight as flight

from ..model.hierarchy import Machine
from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .duckdb import DuckDBStore, StoreLockedError
from .validate import BatchError, RowProblem, to_arrow

OWNER_SUFFIX = ".owner.json"
_ERROR_KEY = b"factory_commons.remote_error"
_CHUNK_ROWS = 128 * 1024
_STAGE_TTL_S = 600.0
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class RemoteStoreError(RuntimeError):
    """The owner process failed a call with an error that has no local equivalent."""


class StoreOwnerGoneError(ConnectionError):
    """The process that owns the store cannot be reached any more."""


# -- errors across the wire ------------------------------------------------------------------
def _error_payload(exc: BaseException) -> dict:
    cls = type(exc)
    payload: dict = {"module": cls.__module__, "type": cls.__qualname__, "message": str(exc)}
    try:
        json.dumps(list(exc.args))
        payload["args"] = list(exc.args)
    except (TypeError, ValueError):
        payload["args"] = [str(exc)]
    if isinstance(exc, BatchError):
        payload["kind"] = exc.kind
        payload["problems"] = [[p.row, p.field, p.why] for p in exc.problems]
    return payload


def _exception_class(module: str, name: str) -> type[BaseException] | None:
    """Only exception classes we know; anything else becomes a RemoteStoreError."""
    if module == "builtins":
        cls = getattr(builtins, name, None)
    elif module == "duckdb" or module.startswith("_duckdb") or module.startswith("duckdb."):
        cls = getattr(duckdb, name, None)
    else:
        known = {
            "BatchError": BatchError,
            "StoreLockedError": StoreLockedError,
            "RemoteStoreError": RemoteStoreError,
            "StoreOwnerGoneError": StoreOwnerGoneError,
        }
        cls = known.get(name) if module.startswith("factory_commons") else None
    if isinstance(cls, type) and issubclass(cls, Exception):
        return cls
    return None


def _exception_from(payload: dict) -> BaseException:
    cls = _exception_class(payload.get("module", ""), payload.get("type", ""))
    message = payload.get("message", "")
    if cls is BatchError:
        exc = BatchError.__new__(BatchError)
        ValueError.__init__(exc, *payload.get("args", [message]))
        exc.kind = payload.get("kind")
        exc.problems = [RowProblem(int(r), f, w) for r, f, w in payload.get("problems", [])]
        return exc
    if cls is not None:
        try:
            return cls(*payload.get("args", [message]))
        except Exception:  # noqa: BLE001 - constructors with other signatures
            try:
                return cls(message)
            except Exception:  # noqa: BLE001
                pass
    return RemoteStoreError(f"{payload.get('type', 'error')} in the owner process: {message}")


# -- values across the wire ------------------------------------------------------------------
def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} to the store owner")


def _dumps(obj) -> bytes:
    return json.dumps(obj, default=_json_default).encode()


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _encode_params(params) -> dict | None:
    """SQL parameters keep their types (datetimes, decimals, lists) as a one-row Arrow table."""
    if params is None:
        return None
    if isinstance(params, dict):
        names, values, named = list(params), list(params.values()), True
    else:
        values = list(params)
        names, named = [f"p{i}" for i in range(len(values))], False
    table = pa.table({n: pa.array([v]) for n, v in zip(names, values, strict=True)})
    return {"named": named, "ipc": base64.b64encode(_ipc_bytes(table)).decode()}


def _decode_params(encoded: dict | None):
    if encoded is None:
        return None
    table = pa.ipc.open_stream(base64.b64decode(encoded["ipc"])).read_all()
    row = {name: table.column(name)[0].as_py() for name in table.column_names}
    return row if encoded["named"] else list(row.values())


# -- the owner side --------------------------------------------------------------------------
class _TokenCheck(flight.ServerMiddlewareFactory):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def start_call(self, info, headers):
        given = (headers.get("authorization") or [""])[0]
        if isinstance(given, str):
            given = given.encode()
        if not hmac.compare_digest(given, self._expected):
            raise flight.FlightUnauthenticatedError("factory_commons store: wrong or missing token")
        return None


class _StoreFlightService(flight.FlightServerBase):
    def __init__(self, store: Store, location: str, token: str):
        super().__init__(location, middleware={"auth": _TokenCheck(token)})
        self.store = store
        self._staged: dict[str, tuple[float, pa.Table]] = {}
        self._staged_lock = threading.Lock()

    # actions: small requests and answers as JSON ------------------------------------------
    def list_actions(self, context):
        return [(name[4:], "") for name in dir(self) if name.startswith("_op_")]

    def do_action(self, context, action):
        try:
            handler = getattr(self, f"_op_{action.type}", None)
            if handler is None:
                raise ValueError(f"unknown store action {action.type!r}")
            body = json.loads(action.body.to_pybytes() or b"{}")
            reply = {"ok": handler(**body)}
        except Exception as e:  # noqa: BLE001 - every error goes back to the caller
            reply = {"error": _error_payload(e)}
        return [flight.Result(_dumps(reply))]

    def _op_info(self) -> dict:
        return {
            "dialect": self.store.dialect,
            "kpi_rollup": bool(getattr(self.store, "kpi_rollup", False)),
            "path": getattr(self.store, "path", None),
            "pid": os.getpid(),
            "protocol": 1,
        }

    def _op_register_machines(self, machines: list[dict]) -> None:
        self.store.register_machines([Machine.model_validate(m) for m in machines])

    def _op_machines(self) -> list[dict]:
        return [m.model_dump(mode="json") for m in self.store.machines()]

    def _op_query_write(self, table: str, rows: list[dict]) -> None:
        self.store.query_write(table, rows)

    def _op_set_state_reason(self, machine: str, ts: str, reason_code: str | None) -> bool:
        return self.store.set_state_reason(machine, datetime.fromisoformat(ts), reason_code)

    def _op_delete_inferred(self, machine: str, start: str, end: str) -> dict[str, int]:
        return self.store.delete_inferred(machine, datetime.fromisoformat(start), datetime.fromisoformat(end))

    def _op_export_parquet(self, directory: str) -> dict[str, int]:
        return self.store.export_parquet(directory)

    def _op_import_parquet(self, directory: str) -> dict[str, int]:
        return self.store.import_parquet(directory)

    def _op_apply_retention(self, policy: dict, now: str | None) -> dict:
        report = self.store.apply_retention(
            RetentionPolicy(**policy), datetime.fromisoformat(now) if now else None
        )
        return dataclasses.asdict(report)

    def _op_optimize(self) -> dict[str, int]:
        return self.store.optimize()

    def _op_drop_staged(self, handles: list[str]) -> None:
        with self._staged_lock:
            for h in handles:
                self._staged.pop(h, None)

    # batches in ------------------------------------------------------------------------------
    def do_put(self, context, descriptor, reader, writer):
        try:
            req = json.loads(descriptor.command)
            table = reader.read_all()
            if req["op"] == "write_table":
                r = self.store.write_table(req["kind"], table)
                reply = {"ok": {"kind": r.kind, "received": r.received, "written": r.written}}
            elif req["op"] == "kpi_rollup_save":
                versions = {int(k): int(v) for k, v in req["versions"].items()}
                reply = {"ok": self.store.kpi_rollup_save(table, versions)}
            elif req["op"] == "stage":
                handle = uuid.uuid4().hex
                now = time.monotonic()
                with self._staged_lock:
                    for h, (t0, _) in list(self._staged.items()):
                        if now - t0 > _STAGE_TTL_S:
                            del self._staged[h]
                    self._staged[handle] = (now, table)
                reply = {"ok": handle}
            else:
                raise ValueError(f"unknown put operation {req['op']!r}")
        except Exception as e:  # noqa: BLE001
            reply = {"error": _error_payload(e)}
        writer.write(pa.py_buffer(_dumps(reply)))

    # results out -----------------------------------------------------------------------------
    def do_get(self, context, ticket):
        handles: list[str] = []
        try:
            req = json.loads(ticket.ticket)
            tables = {}
            handles = list(req.get("tables", {}).values())
            with self._staged_lock:
                for name, h in req.get("tables", {}).items():
                    if h not in self._staged:
                        raise RemoteStoreError(f"table {name!r} was not staged (or expired)")
                    tables[name] = self._staged[h][1]
            result = self.store.query(req["sql"], _decode_params(req.get("params")), tables or None)
        except Exception as e:  # noqa: BLE001
            result = pa.table({}).replace_schema_metadata({_ERROR_KEY: _dumps(_error_payload(e))})
        finally:
            with self._staged_lock:
                for h in handles:
                    self._staged.pop(h, None)
        return flight.RecordBatchStream(result)


class FlightStoreServer:
    """Serve any Store over Arrow Flight on localhost, from gRPC threads in the background.

    Every call must carry `token` (generated when not given). The store must be safe to
    call from several threads (DuckDBStore serialises with its lock).
    """

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0, token: str | None = None):
        if host not in _LOCAL_HOSTS:
            raise ValueError(f"the store is served on this machine only (127.0.0.1), not on {host!r}")
        self.store = store
        self.host = "127.0.0.1" if host == "localhost" else host
        self.token = token or secrets.token_urlsafe(32)
        bind = f"[{self.host}]" if ":" in self.host else self.host
        self._service = _StoreFlightService(store, f"grpc+tcp://{bind}:{port}", self.token)
        self.port = self._service.port
        self.location = f"grpc+tcp://{bind}:{self.port}"
        self._closed = False

    def shutdown(self) -> None:
        """Stop accepting calls; waits for calls in flight to finish."""
        if not self._closed:
            self._closed = True
            self._service.shutdown()

    close = shutdown

    def __enter__(self) -> FlightStoreServer:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


# -- the caller side -------------------------------------------------------------------------
def _failover(method):
    """When the owner has gone, open the path again (reaching the next owner or becoming it)
    and repeat the call once: every write is idempotent, so a repeat double-counts nothing."""
    name = method.__name__

    @functools.wraps(method)
    def call(self: RemoteStore, *args, **kwargs):
        if self._local is not None:
            return getattr(self._local, name)(*args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except StoreOwnerGoneError:
            if not self._reopen():
                raise
        if self._local is not None:
            return getattr(self._local, name)(*args, **kwargs)
        return method(self, *args, **kwargs)

    return call


class RemoteStore(Store):
    """A Store whose every call runs in the owner process, reached over Arrow Flight.

    Opened by `open_store` (with `reopen=True`), it survives its owner: when the owner has
    closed or died, the next call opens the path again and goes to the new owner, or makes
    this process the owner (the store is then local and served from here).
    """

    def __init__(
        self,
        location: str,
        token: str,
        *,
        path: str | None = None,
        timeout: float = 10.0,
        reopen: bool = False,
        serve: bool = True,
    ):
        self._local: Store | None = None
        self._closed = False
        self._connect(location, token, timeout)
        self.path = path or self._info.get("path")
        self._reopen_ok = reopen and path is not None
        self._serve = serve
        self._reopen_lock = threading.Lock()

    def _connect(self, location: str, token: str, timeout: float | None) -> None:
        self.location = location
        self._client = flight.FlightClient(location)
        self._headers = [(b"authorization", f"Bearer {token}".encode())]
        try:
            self._info = self._action("info", {}, timeout=timeout)
        except BaseException:
            self._client.close()
            raise
        self.dialect = self._info["dialect"]
        self.owner_pid = self._info["pid"]

    def _reopen(self) -> bool:
        if not self._reopen_ok or self._closed:
            return False
        with self._reopen_lock:
            if self._local is not None:
                return True
            old = self._client
            store = open_shared(self.path, serve=self._serve)
            if isinstance(store, RemoteStore):
                if store.location == self.location:  # another thread reconnected already
                    store.close()
                    return True
                self._client, self._headers, self.location = store._client, store._headers, store.location
                self.owner_pid, self.dialect, self._info = store.owner_pid, store.dialect, store._info
                store._closed = True  # its client is ours now
            else:
                self._local = store
                self.dialect = store.dialect
            with contextlib.suppress(Exception):
                old.close()
            return True

    def __repr__(self) -> str:
        if self._local is not None:
            return f"RemoteStore({self.path!r}, now owned here)"
        return f"RemoteStore({self.path!r} via pid {self.owner_pid} at {self.location})"

    def _options(self, timeout: float | None = None) -> flight.FlightCallOptions:
        if self._closed:
            raise ValueError("this store is closed")
        return flight.FlightCallOptions(headers=self._headers, timeout=timeout)

    @contextlib.contextmanager
    def _transport(self) -> Iterator[None]:
        try:
            yield
        except flight.FlightUnauthenticatedError:
            raise PermissionError(
                f"the store owner at {self.location} rejected the token; is the owner file current?"
            ) from None
        except flight.FlightUnavailableError as e:
            raise StoreOwnerGoneError(
                f"the process that owns store {getattr(self, 'path', None) or ''} "
                f"(pid {getattr(self, 'owner_pid', '?')}, {self.location}) cannot be reached: {e}; "
                "open the store again"
            ) from None
        except flight.FlightError as e:
            raise RemoteStoreError(f"store owner at {self.location}: {e}") from None

    @staticmethod
    def _unwrap(reply: dict):
        if "error" in reply:
            raise _exception_from(reply["error"])
        return reply.get("ok")

    def _action(self, name: str, body: dict, timeout: float | None = None):
        with self._transport():
            results = list(self._client.do_action(flight.Action(name, _dumps(body)), self._options(timeout)))
        return self._unwrap(json.loads(results[0].body.to_pybytes()))

    def _put(self, request: dict, table: pa.Table):
        with self._transport():
            writer, meta = self._client.do_put(
                flight.FlightDescriptor.for_command(_dumps(request)), table.schema, self._options()
            )
            try:
                writer.write_table(table, max_chunksize=_CHUNK_ROWS)
                writer.done_writing()
                buf = meta.read()
            finally:
                writer.close()
        if buf is None:
            raise RemoteStoreError(f"store owner at {self.location} sent no reply")
        return self._unwrap(json.loads(buf.to_pybytes()))

    # -- writing -------------------------------------------------------------------------------
    @_failover
    def write_table(self, kind: str, data) -> WriteResult:
        """Validated and written by the owner; a BatchError comes back as a BatchError."""
        r = self._put({"op": "write_table", "kind": kind}, to_arrow(data))
        return WriteResult(r["kind"], r["received"], r["written"])

    def _write_valid(self, kind: str, table: pa.Table) -> WriteResult:
        return self.write_table(kind, table)

    # -- hierarchy and calendars ---------------------------------------------------------------
    @_failover
    def register_machines(self, machines: Iterable[Machine]) -> None:
        self._action("register_machines", {"machines": [m.model_dump(mode="json") for m in machines]})

    @_failover
    def machines(self) -> list[Machine]:
        return [Machine.model_validate(m) for m in self._action("machines", {})]

    @_failover
    def query_write(self, table: str, rows: list[dict]) -> None:
        self._action("query_write", {"table": table, "rows": rows})

    @_failover
    def set_state_reason(self, machine: str, ts: datetime, reason_code: str | None) -> bool:
        body = {"machine": machine, "ts": ts.isoformat(), "reason_code": reason_code}
        return bool(self._action("set_state_reason", body))

    @_failover
    def delete_inferred(self, machine: str, start: datetime, end: datetime) -> dict[str, int]:
        body = {"machine": machine, "start": start.isoformat(), "end": end.isoformat()}
        return dict(self._action("delete_inferred", body))

    # -- reading -------------------------------------------------------------------------------
    @_failover
    def query(
        self, sql: str, params: list | None = None, tables: dict[str, pa.Table] | None = None
    ) -> pa.Table:
        encoded = _encode_params(params)
        staged = {name: self._put({"op": "stage"}, to_arrow(t)) for name, t in (tables or {}).items()}
        ticket = {"sql": sql, "params": encoded, "tables": staged}
        with self._transport():
            reader = self._client.do_get(flight.Ticket(_dumps(ticket)), self._options())
            table = reader.read_all()
        meta = table.schema.metadata or {}
        if _ERROR_KEY in meta:
            raise _exception_from(json.loads(meta[_ERROR_KEY]))
        return table

    # -- maintenance ---------------------------------------------------------------------------
    @_failover
    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        # the owner runs in another working directory: send an absolute path
        return self._action("export_parquet", {"directory": str(Path(directory).resolve())})

    @_failover
    def import_parquet(self, directory: str | Path) -> dict[str, int]:
        return self._action("import_parquet", {"directory": str(Path(directory).resolve())})

    @_failover
    def apply_retention(self, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
        r = self._action(
            "apply_retention",
            {"policy": dataclasses.asdict(policy), "now": now.isoformat() if now else None},
        )
        return RetentionReport(**r)

    @_failover
    def optimize(self) -> dict[str, int]:
        return self._action("optimize", {})

    # -- the hourly KPI rollup (kpi/rollup.py) -------------------------------------------------
    @property
    def kpi_rollup(self) -> bool:  # type: ignore[override]
        """Whether the owner's store keeps the hourly KPI rollup (then so does this one)."""
        if self._local is not None:
            return bool(getattr(self._local, "kpi_rollup", False))
        return bool(self._info.get("kpi_rollup", False))

    @_failover
    def kpi_rollup_save(self, rows: pa.Table, versions: dict[int, int]) -> int:
        return int(
            self._put({"op": "kpi_rollup_save", "versions": {str(k): v for k, v in versions.items()}}, rows)
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._client.close()
            if self._local is not None:
                self._local.close()


# -- ownership of a store file ---------------------------------------------------------------
def owner_file(path: str | Path) -> Path:
    return Path(f"{path}{OWNER_SUFFIX}")


def read_owner_file(path: str | Path) -> dict | None:
    """The owner record next to store file PATH, or None when absent or unreadable."""
    try:
        info = json.loads(owner_file(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not {"host", "port", "token", "pid"} <= info.keys():
        return None
    return info


def _write_owner_file(path: str | Path, info: dict) -> Path:
    target = owner_file(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _remove_owner_file(target: Path, token: str) -> None:
    """Remove the owner file if it is still ours (a later owner may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(target.read_text()).get("token") == token:
            target.unlink()


# servers of this process per store file: DuckDB shares one database between connections
# of a process, so a second open_store of a path here also succeeds and serves it
_SERVING: dict[str, list[FlightStoreServer]] = {}
_SERVING_LOCK = threading.Lock()


class ServedDuckDBStore(DuckDBStore):
    """A DuckDB file opened by its owner, served to other processes while it is open."""

    def __init__(self, path: str | Path, threads: int | None = None, host: str = "127.0.0.1"):
        super().__init__(path, threads)
        try:
            self.server = FlightStoreServer(self, host=host)
            self.owner_file = owner_file(self.path)
            with _SERVING_LOCK:
                _write_owner_file(self.path, _owner_info(self.server, self.path))
                _SERVING.setdefault(str(self.owner_file.resolve()), []).append(self.server)
        except BaseException:
            super().close()
            raise
        # a process that forgets to close still stops serving and leaves no owner file at exit
        self._finalizer = weakref.finalize(self, _stop_serving, self.owner_file, self.path, self.server)

    def close(self) -> None:
        server, self.server = getattr(self, "server", None), None
        if server is not None:
            self._finalizer()  # waits for calls in flight
        super().close()


def _owner_info(server: FlightStoreServer, path: str) -> dict:
    return {
        "host": server.host,
        "port": server.port,
        "token": server.token,
        "pid": os.getpid(),
        "path": str(Path(path).resolve()),
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _stop_serving(target: Path, path: str, server: FlightStoreServer) -> None:
    # the file first, so that nobody new connects; another open store of this process
    # takes over the announcement
    with _SERVING_LOCK:
        others = _SERVING.get(str(target.resolve()), [])
        with contextlib.suppress(ValueError):
            others.remove(server)
        if others:
            with contextlib.suppress(OSError):
                _write_owner_file(path, _owner_info(others[-1], path))
        else:
            _SERVING.pop(str(target.resolve()), None)
            _remove_owner_file(target, server.token)
    server.shutdown()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe_pid(pid: int) -> str:
    try:
        cmd = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split())
    except OSError:
        cmd = ""
    return f"process {pid}" + (f" ({cmd[:120]})" if cmd else "")


def open_shared(path: str | Path, serve: bool = True, wait: float = 5.0, threads: int | None = None) -> Store:
    """Open store file PATH: own it when free, else reach its owner (see `open_store`)."""
    path = str(path)
    deadline = time.monotonic() + wait
    delay = 0.02
    while True:
        try:
            return ServedDuckDBStore(path, threads) if serve else DuckDBStore(path, threads)
        except StoreLockedError as e:
            locked = e
        info = read_owner_file(path)
        why: str
        if info is None:
            why = f"there is no owner file {owner_file(path)}, so it does not serve the store"
        else:
            try:
                return RemoteStore(
                    f"grpc+tcp://{info['host']}:{info['port']}",
                    info["token"],
                    path=path,
                    timeout=max(0.5, min(5.0, deadline - time.monotonic())),
                    reopen=True,
                    serve=serve,
                )
            except (StoreOwnerGoneError, PermissionError, RemoteStoreError) as e:
                pid = int(info["pid"])
                if not _pid_alive(pid):
                    why = f"the owner file {owner_file(path)} is stale: it names process {pid}, which is not running"
                else:
                    why = f"{_describe_pid(pid)} named in {owner_file(path)} does not answer ({e})"
        if time.monotonic() >= deadline:
            m = re.search(r"PID (\d+)", str(locked))
            holder = _describe_pid(int(m.group(1))) if m else "another process"
            raise StoreLockedError(
                f"store {path} is locked by {holder}, and {why}. Open the store in that process "
                "with factory_commons.store.open_store(..., serve=True) so that others can reach it, "
                "or stop it."
            ) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


__all__ = [
    "FlightStoreServer",
    "RemoteStore",
    "RemoteStoreError",
    "ServedDuckDBStore",
    "StoreOwnerGoneError",
    "open_shared",
    "owner_file",
    "read_owner_file",
]
