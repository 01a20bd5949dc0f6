"""Command-line commands for manufacturing AI: `factory-commons ai train|detect|rul`.

`register(app)` adds the `ai` command group to the main app. scikit-learn and LightGBM are
imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import typer

ai_app = typer.Typer(help="이상 탐지·잔여 수명 / anomaly detection and remaining useful life", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `ai` command group to `app` (once it has commands)."""
    if ai_app.registered_commands:
        app.add_typer(ai_app, name="ai")
