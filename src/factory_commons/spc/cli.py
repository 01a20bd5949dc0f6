"""Command-line command for statistical process control: `factory-commons spc`.

`register(app)` adds it to the main app.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the SPC command to `app`."""
