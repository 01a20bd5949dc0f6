"""What an ingest worker reports to the hub operator: /health and Prometheus-style /metrics.

`serve_metrics(metrics, host, port)` answers on a small HTTP server thread of the worker process:
`/health` is 200 with a JSON body while the worker reaches both NATS and PostgreSQL, 503 (with
the reason) when not; `/metrics` is the Prometheus text format:

- `fc_hub_points_total`, `fc_hub_points_per_second` (the last 10 s): rows stored;
- `fc_hub_ingest_lag_seconds{quantile="0.5"|"0.95"}`: stream arrival -> PostgreSQL commit, the
  last minute's messages; `fc_hub_edge_lag_seconds{quantile=...}`: collector arrival -> commit
  (includes the time a firm was offline);
- `fc_hub_consumer_pending`: messages the stream holds for the consumer and not yet delivered;
  `fc_hub_in_flight_messages`: messages this worker has fetched and not yet acknowledged;
- `fc_hub_firm_last_data_timestamp_seconds{firm="..."}`: when each firm's last rows were stored;
- `fc_hub_duplicate_rows_total`, `fc_hub_rejected_rows_total`, `fc_hub_refused_messages_total`,
  `fc_hub_errors_total`, `fc_hub_batches_total`, `fc_hub_up{link="nats"|"postgresql"}`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _quantiles(values: list[float], *qs: float) -> list[float]:
    """The `qs` quantiles of `values` (0.0 for none), sorting once: /health is polled often and
    a worker keeps a minute of per-message lags (tens of thousands of values)."""
    if not values:
        return [0.0 for _ in qs]
    s = sorted(values)
    return [s[min(len(s) - 1, int(q * len(s)))] for q in qs]


class HubMetrics:
    """Counters of one worker (thread-safe: the worker writes, the HTTP thread reads)."""

    def __init__(self, window_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.window_s = window_s
        self.points = 0
        self.batches = 0
        self.errors = 0
        self.refused_messages = 0
        self.rejected_rows = 0
        self.duplicate_rows = 0
        self.pending: int | None = None
        self.in_flight = 0  # messages fetched and not yet acknowledged
        self.last_error = ""
        self.last_refusal = ""
        self.firm_last: dict[str, float] = {}
        self.nats_up = False
        self.pg_up = False
        self.started = time.time()
        self.last_batch_at = 0.0
        self.write_seconds = 0.0
        self._recent: deque[tuple[float, int]] = deque()  # (commit time, rows)
        self._lags: deque[tuple[float, float]] = deque()
        self._edge_lags: deque[tuple[float, float]] = deque()
        self._lag_cache: tuple[int, list[float]] = (-1, [])

    def set_nats(self, up: bool) -> None:
        self.nats_up = up

    def set_pg(self, up: bool) -> None:
        self.pg_up = up

    def error(self, e: BaseException) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"[:500]

    def refused(self, why: str) -> None:
        with self._lock:
            self.refused_messages += 1
            self.last_refusal = why[:500]

    def idle(self) -> None:
        with self._lock:
            self.pending = 0 if self.pending is None else self.pending

    def batch_done(
        self,
        rows_by_firm: dict[str, int],
        lags: list[float],
        edge_lags: list[float],
        pending: int | None,
        seconds: float,
    ) -> None:
        now = time.time()
        n = sum(rows_by_firm.values())
        with self._lock:
            self.points += n
            self.batches += 1
            self.write_seconds += seconds
            self.last_batch_at = now
            if pending is not None:
                self.pending = pending
            for firm, k in rows_by_firm.items():
                if k:
                    self.firm_last[firm] = now
            self._recent.append((now, n))
            self._lags.extend((now, x) for x in lags)
            self._edge_lags.extend((now, x) for x in edge_lags)
            for q in (self._recent, self._lags, self._edge_lags):
                while q and q[0][0] < now - self.window_s:
                    q.popleft()

    def snapshot(self, firms: bool = True) -> dict:
        """Everything reported; `firms=False` leaves out the per-firm times (2,000 in a region)."""
        now = time.time()
        with self._lock:
            recent = sum(n for t, n in self._recent if t >= now - 10)
            if self._lag_cache[0] != self.batches:  # the lags change only with a batch
                self._lag_cache = (
                    self.batches,
                    _quantiles([x for _, x in self._lags], 0.5, 0.95)
                    + _quantiles([x for _, x in self._edge_lags], 0.5, 0.95),
                )
            lag_p50, lag_p95, edge_p50, edge_p95 = self._lag_cache[1]
            return {
                "points": self.points,
                "points_per_s": recent / min(10.0, max(now - self.started, 1e-3)),
                "lag_p50_s": lag_p50,
                "lag_p95_s": lag_p95,
                "edge_lag_p50_s": edge_p50,
                "edge_lag_p95_s": edge_p95,
                "pending": self.pending,
                "in_flight": self.in_flight,
                "batches": self.batches,
                "errors": self.errors,
                "refused_messages": self.refused_messages,
                "rejected_rows": self.rejected_rows,
                "duplicate_rows": self.duplicate_rows,
                "firm_last": dict(self.firm_last) if firms else {},
                "nats_up": self.nats_up,
                "pg_up": self.pg_up,
                "last_error": self.last_error,
                "last_refusal": self.last_refusal,
            }

    def health(self) -> tuple[int, dict]:
        s = self.snapshot(firms=False)
        ok = s["nats_up"] and s["pg_up"]
        body = {
            "status": "ok" if ok else "degraded",
            "nats": s["nats_up"],
            "postgresql": s["pg_up"],
            "consumer_pending": s["pending"],
            "in_flight": s["in_flight"],
            "points": s["points"],
            "batches": s["batches"],
            "lag_p95_s": round(s["lag_p95_s"], 4),
            "edge_lag_p95_s": round(s["edge_lag_p95_s"], 4),
            "duplicate_rows": s["duplicate_rows"],
            "errors": s["errors"],
            "points_per_s": round(s["points_per_s"], 1),
            "last_error": s["last_error"],
        }
        return (200 if ok else 503), body

    def prometheus(self) -> str:
        s = self.snapshot()
        out = [
            "# HELP fc_hub_points_total Rows this worker stored in PostgreSQL.",
            "# TYPE fc_hub_points_total counter",
            f"fc_hub_points_total {s['points']}",
            "# HELP fc_hub_points_per_second Rows stored per second over the last 10 s.",
            "# TYPE fc_hub_points_per_second gauge",
            f"fc_hub_points_per_second {s['points_per_s']:.3f}",
            "# HELP fc_hub_ingest_lag_seconds Stream arrival to PostgreSQL commit, last minute.",
            "# TYPE fc_hub_ingest_lag_seconds summary",
            f'fc_hub_ingest_lag_seconds{{quantile="0.5"}} {s["lag_p50_s"]:.4f}',
            f'fc_hub_ingest_lag_seconds{{quantile="0.95"}} {s["lag_p95_s"]:.4f}',
            "# HELP fc_hub_edge_lag_seconds Collector arrival to PostgreSQL commit, last minute.",
            "# TYPE fc_hub_edge_lag_seconds summary",
            f'fc_hub_edge_lag_seconds{{quantile="0.5"}} {s["edge_lag_p50_s"]:.4f}',
            f'fc_hub_edge_lag_seconds{{quantile="0.95"}} {s["edge_lag_p95_s"]:.4f}',
            "# HELP fc_hub_consumer_pending Messages in the stream not yet delivered to the consumer.",
            "# TYPE fc_hub_consumer_pending gauge",
            f"fc_hub_consumer_pending {s['pending'] if s['pending'] is not None else 'NaN'}",
            "# HELP fc_hub_in_flight_messages Messages this worker holds, fetched and not yet acknowledged.",
            "# TYPE fc_hub_in_flight_messages gauge",
            f"fc_hub_in_flight_messages {s['in_flight']}",
        ]
        for name, key, text in (
            ("fc_hub_batches_total", "batches", "Batches committed."),
            ("fc_hub_duplicate_rows_total", "duplicate_rows", "Rows already stored (a redelivery)."),
            ("fc_hub_rejected_rows_total", "rejected_rows", "Rows refused by validation."),
            ("fc_hub_refused_messages_total", "refused_messages", "Messages that could not be read."),
            ("fc_hub_errors_total", "errors", "NATS or PostgreSQL errors (each retried)."),
        ):
            out += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {s[key]}"]
        out += ["# HELP fc_hub_up 1 while the worker reaches the link.", "# TYPE fc_hub_up gauge"]
        out.append(f'fc_hub_up{{link="nats"}} {int(s["nats_up"])}')
        out.append(f'fc_hub_up{{link="postgresql"}} {int(s["pg_up"])}')
        out += [
            "# HELP fc_hub_firm_last_data_timestamp_seconds When a firm's last rows were stored.",
            "# TYPE fc_hub_firm_last_data_timestamp_seconds gauge",
        ]
        for firm, t in sorted(s["firm_last"].items()):
            out.append(f'fc_hub_firm_last_data_timestamp_seconds{{firm="{firm}"}} {t:.3f}')
        return "\n".join(out) + "\n"


def serve_metrics(metrics: HubMetrics, host: str, port: int) -> ThreadingHTTPServer:
    """Start /health and /metrics on a daemon thread; returns the server (`.shutdown()` ends it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.startswith("/metrics"):
                code, body, kind = 200, metrics.prometheus().encode(), "text/plain; version=0.0.4"
            elif self.path.startswith("/health"):
                code, data = metrics.health()
                body, kind = json.dumps(data).encode(), "application/json"
            else:
                code, body, kind = 404, b"not found\n", "text/plain"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="hub-metrics").start()
    return server
