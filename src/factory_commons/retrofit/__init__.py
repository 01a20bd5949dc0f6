"""Retrofit: machine states, cycles and stops of legacy machines from one clamp-on current sensor.

`features` computes RMS and shape features at the edge, `infer` learns a machine's own current
levels and infers off/idle/running, cycles and micro-stops without a hand-set threshold, and
`traces` makes current traces with known states for tests, the bench and the simulator.
"""

from __future__ import annotations

from .infer import CurrentModel, Inference, infer_states

__all__ = ["CurrentModel", "Inference", "infer_states"]
