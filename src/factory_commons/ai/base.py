"""The small estimator API every AI method implements, and how models are saved without pickle.

A method is a class registered with `@register("name")`. It learns with `fit`, exposes what it
learned as plain JSON-able parameters plus named numpy arrays (`get_state` / `set_state`), and
is saved as a folder holding `model.json` (method name, format version, parameters) and
`arrays.npz` (loaded with `allow_pickle=False`). A model file from someone else can therefore
be read without running any code it contains; `load_model` only instantiates classes from the
registry. Methods that wrap a library with its own safe text format (LightGBM's model string)
put that text in the parameters.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

FORMAT_VERSION = 1
ESTIMATORS: dict[str, type[Estimator]] = {}


class ModelFileError(ValueError):
    """A saved model folder is missing, malformed or names an unknown method."""


def register(name: str):
    """Class decorator: make a method loadable by `load_model` under `name`."""

    def wrap(cls: type[Estimator]) -> type[Estimator]:
        if name in ESTIMATORS and ESTIMATORS[name] is not cls:
            raise ValueError(f"estimator name {name!r} is already registered")
        cls.method = name
        ESTIMATORS[name] = cls
        return cls

    return wrap


class Estimator(ABC):
    """fit / get_state / set_state; subclasses add score/predict for their task."""

    method: ClassVar[str] = ""

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Self:
        """Learn from X (rows are samples, columns features) and, for supervised methods, y."""

    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What the fitted model consists of: JSON-able parameters and named numeric arrays."""

    @abstractmethod
    def set_state(self, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore a fitted model from `get_state`'s output."""

    def save(self, directory: str | Path) -> Path:
        return save_model(self, directory)


class AnomalyDetector(Estimator):
    """Trained on normal operation; scores new rows, flags anomalies and explains them."""

    @abstractmethod
    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly score per row; higher is more anomalous."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Boolean per row: is the row anomalous (score above the fitted threshold)?"""

    @abstractmethod
    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per row and feature, the share of the score that feature accounts for (rows sum to 1)."""


class RulModel(Estimator):
    """Predicts remaining useful life (cycles or hours) with an uncertainty band."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Point estimate of remaining useful life per row."""

    @abstractmethod
    def predict_interval(self, X: np.ndarray, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds that should hold the true RUL with probability `coverage`."""


def save_model(model: Estimator, directory: str | Path) -> Path:
    """Write `model.json` and `arrays.npz` into `directory` (created if needed)."""
    if not model.method:
        raise ValueError(f"{type(model).__name__} is not registered; decorate it with @register")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    params, arrays = model.get_state()
    manifest = {"method": model.method, "format_version": FORMAT_VERSION, "params": params}
    tmp = out / "model.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    np.savez(out / "arrays.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    tmp.replace(out / "model.json")  # the manifest appears last: a half-saved model is not loadable
    return out


def load_model(directory: str | Path) -> Estimator:
    """Load a model saved by `save_model`; never unpickles anything."""
    folder = Path(directory)
    manifest_path = folder / "model.json"
    if not manifest_path.is_file():
        raise ModelFileError(f"{manifest_path}: no model here (model.json is missing)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{manifest_path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or "method" not in manifest:
        raise ModelFileError(f"{manifest_path}: field 'method' is missing")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{manifest_path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})"
        )
    cls = ESTIMATORS.get(manifest["method"])
    if cls is None:
        known = ", ".join(sorted(ESTIMATORS)) or "none"
        raise ModelFileError(f"{manifest_path}: unknown method {manifest['method']!r} (known: {known})")
    arrays: dict[str, np.ndarray] = {}
    npz = folder / "arrays.npz"
    if npz.is_file():
        try:
            with np.load(npz, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except ValueError as e:
            raise ModelFileError(f"{npz}: cannot be read without pickle ({e})") from None
    model = cls.__new__(cls)
    model.set_state(manifest.get("params", {}), arrays)
    return model
