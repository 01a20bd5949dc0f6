"""Statistical process control: control charts, run rules and capability indices.

See docs/spc.md. The pieces:

- `charts`: X̄-R, X̄-S, I-MR, p, np, c, u charts (`xbar_r`, `xbar_s`, `imr`, `p_chart`, ...)
- `constants`: d2, d3, c4 and the factors A2, A3, B3..B6, D1..D4, E2 from their definitions
- `rules`: Western Electric and Nelson run rules (`check`)
- `capability`: Cp, Cpk, Pp, Ppk, Cpm with confidence intervals
- `data`: chart inputs from a store's quality and counts tables
- `analysis`: all of it for one machine, as `factory-commons spc` shows it
"""

from __future__ import annotations

import importlib

# Loaded on first use, so that `factory-commons --help` does not import SciPy.
_EXPORTS = {
    "capability": (
        "Capability",
        "process_capability",
        "capability_from_chart",
        "cp_interval",
        "cpk_interval",
    ),
    "charts": (
        "AttributesChart",
        "Chart",
        "SpcError",
        "VariablesChart",
        "c_chart",
        "imr",
        "np_chart",
        "p_chart",
        "u_chart",
        "xbar_r",
        "xbar_s",
    ),
    "constants": ("c4", "d2", "d3", "factors"),
    "rules": ("NELSON", "WESTERN_ELECTRIC", "Violation", "check"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
