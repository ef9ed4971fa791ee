"""The Predictor: every target's one way to a model.

It loads a version from the store (checking every file it reads against the
manifest), knows the signature, validates and coerces inputs, scores through the
fastest path the model allows, and can swap in a newly promoted version while other
threads keep predicting. Each loaded version is an immutable LoadedVersion; the
Predictor only ever replaces its reference to one, so a call, or a caller holding
`predictor.current`, uses one consistent model from start to end.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from scalepipe.predict.inputs import (
    InvalidInput,
    check_matrix,
    frame_matrix,
    numeric_matrix,
    record_row,
)
from scalepipe.predict.requests import Batch, Children, Records, Rows
from scalepipe.predict.scorers import EstimatorScorer, KerasScorer, LinearScorer, Scorer
from scalepipe.signature import OutputKind, Signature
from scalepipe.store.card import ModelCard
from scalepipe.store.formats import LINEAR_FILE
from scalepipe.store.store import ModelStore
from scalepipe.store.uri import ModelURI

if TYPE_CHECKING:
    from scalepipe.features.definition import FeatureDefinition

log = logging.getLogger(__name__)
# Estimators that take NaN as "missing" natively.
_MISSING_AWARE = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


@dataclass(frozen=True)
class LoadedVersion:
    """One loaded model version and the ways to score it; never changes once built."""

    card: ModelCard
    scorer: Scorer
    accepts_missing: bool
    strict: bool = False
    features: FeatureDefinition | None = None  # the model computes its features from rows

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> int:
        return self.card.version

    @cached_property
    def names(self) -> tuple[str, ...]:
        return self.card.signature.names

    @cached_property
    def pick(self) -> Callable[[Mapping[Any, Any]], tuple[Any, ...]]:
        """A record's values in signature order, as a tuple (operator.itemgetter, in C)."""
        if len(self.names) == 1:
            name = self.names[0]
            return lambda record: (record[name],)
        return itemgetter(*self.names)

    def row(self, record: Any, index: int | None = None) -> list[float]:
        try:
            return record_row(
                record, self.names, accepts_missing=self.accepts_missing, strict=self.strict
            )
        except InvalidInput as error:
            if index is None:
                raise
            raise InvalidInput(f"record {index}: {error}", error.field) from None

    def predict_one(self, record: Mapping[Any, Any]) -> float:
        return self._score_row(self.row(record))

    def predict_records(self, records: Sequence[Mapping[Any, Any]]) -> list[float]:
        if len(records) == 1:
            return [self._score_row(self.row(records[0], 0))]
        if not records:
            return []
        try:
            import numpy as np
        except ImportError:  # a numpy-free serverless package of a linear model
            return [self._score_row(self.row(r, i), i) for i, r in enumerate(records)]
        matrix = None if self.strict else self._plain_matrix(records)
        if matrix is None:
            rows = [self.row(record, index) for index, record in enumerate(records)]
            matrix = np.array(rows, dtype=np.float64)
        result: list[float] = self._score_matrix(matrix).tolist()
        return result

    def predict_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
        missing = [name for name in self.names if name not in columns]
        if missing:
            raise InvalidInput(f"missing feature(s): {', '.join(missing)}", missing[0])
        if len(rows) == 0:
            return []
        names = list(columns)
        try:
            import numpy as np

            matrix = numeric_matrix(rows)
        except ImportError:
            matrix = None
        if matrix is not None and matrix.ndim == 2 and matrix.shape[1] == len(names):
            in_order = names == list(self.names)
            chosen = matrix if in_order else matrix[:, [names.index(n) for n in self.names]]
            if np.isfinite(chosen).all():
                result: list[float] = self._score_matrix(chosen).tolist()
                return result
        # Something needs a word: go record by record, which names the row and field.
        records = []
        for index, row in enumerate(rows):
            if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != len(names):
                raise InvalidInput(
                    f"row {index} must be a list of {len(names)} values, one per column"
                )
            records.append(dict(zip(names, row, strict=True)))
        return self.predict_records(records)

    def predict_positional(self, rows: Any) -> list[float]:
        """Rows of values in the signature's order: lists, or a 2-D array."""
        if len(rows) == 0:
            return []
        if not isinstance(rows, list):
            checked = check_matrix(rows, self.names, self.accepts_missing)
            result: list[float] = self._score_matrix(checked).tolist()
            return result
        return self.predict_rows(self.names, rows)

    def predict_columns(self, columns: Mapping[str, Any]) -> list[float]:
        """One sequence of values per feature (extra columns ignored unless strict)."""
        missing = [name for name in self.names if name not in columns]
        if missing:
            raise InvalidInput(f"missing feature(s): {', '.join(missing)}", missing[0])
        if self.strict and len(columns) != len(self.names):
            unknown = sorted(set(columns) - set(self.names))
            raise InvalidInput(f"unknown field(s): {', '.join(unknown)}", unknown[0])
        chosen = [columns[name] for name in self.names]
        if not chosen or len(chosen[0]) == 0:
            return []
        try:
            import numpy as np

            arrays = [column if isinstance(column, np.ndarray) else numeric_matrix(column)
                      for column in chosen]  # fmt: skip
        except ImportError:
            arrays = [None]
        if all(a is not None and a.ndim == 1 and a.dtype.kind in "biuf" for a in arrays):
            matrix = np.column_stack(arrays).astype(np.float64, copy=False)
            checked = check_matrix(matrix, self.names, self.accepts_missing)
            result: list[float] = self._score_matrix(checked).tolist()
            return result
        records = [
            dict(zip(self.names, values, strict=True)) for values in zip(*chosen, strict=True)
        ]
        return self.predict_records(records)

    @property
    def child(self) -> str | None:
        """The child entity whose rows the model takes ("plays"), if it computes features."""
        return self.features.spec.child if self.features is not None else None

    def feature_rows(self, children: Any) -> tuple[list[Any], Any]:
        """The parents' keys and feature rows (a float matrix in signature order) that
        child rows (a game's plays) give, as at training time."""
        if self.features is None:
            raise InvalidInput(
                f"{self.name}:{self.version} takes feature rows; it was not trained on "
                "features computed from child rows"
            )
        return self.features.matrix(children)

    def score_children(self, children: Any) -> tuple[list[Any], Any, list[float]]:
        """The parents' keys, their feature rows and their scores, in key order."""
        keys, matrix = self.feature_rows(children)
        scores: list[float] = self._score_matrix(matrix).tolist()
        return keys, matrix, scores

    def predict_children(self, children: Any) -> list[float]:
        """One score per parent (in key order) of child rows: a game's plays."""
        return self.score_children(children)[2]

    def predict_batch(self, batch: Batch) -> list[float]:
        """Any request shape (predict/requests.py): records, rows, columns, child rows."""
        if isinstance(batch, Children):
            return self.predict_children(batch.items)
        if isinstance(batch, Records):
            return self.predict_records(batch.items)
        if isinstance(batch, Rows):
            if batch.columns is None:
                return self.predict_positional(batch.rows)
            return self.predict_rows(batch.columns, batch.rows)
        return self.predict_columns(batch.columns)

    def predict_frame(self, frame: Any) -> Any:
        return self._score_matrix(frame_matrix(frame, self.names, self.accepts_missing))

    def predict_array(self, array: Any) -> Any:
        return self._score_matrix(check_matrix(array, self.names, self.accepts_missing))

    def _score_row(self, row: list[float], index: int | None = None) -> float:
        score = self.scorer.score_row(row)
        if score - score != 0.0:  # NaN or ±infinity: inputs far outside the training data
            raise _not_finite(index)
        return score

    def _score_matrix(self, matrix: Any) -> Any:
        import numpy as np

        scores = self.scorer.score_matrix(matrix)
        finite = np.isfinite(scores)
        if not finite.all():
            raise _not_finite(int(np.argmin(finite)))
        return scores

    def _plain_matrix(self, records: Sequence[Mapping[Any, Any]]) -> Any:
        """The records as a float64 matrix in one pass through C, when nothing needs a word.

        Numbers and booleans convert exactly as record by record; anything else (a string,
        a missing field, NaN where the model refuses it) returns None, and the
        record-by-record path then names the record and field at fault.
        """
        import numpy as np

        pick = self.pick
        try:
            matrix = numeric_matrix([pick(record) for record in records])
        except (KeyError, TypeError):
            return None
        if matrix is None or matrix.ndim != 2 or matrix.shape[1] != len(self.names):
            return None
        finite = np.isfinite(matrix)
        if not finite.all() and not (self.accepts_missing and (finite | np.isnan(matrix)).all()):
            return None
        return matrix


def _not_finite(index: int | None) -> InvalidInput:
    where = "" if index is None else f"record {index}: "
    return InvalidInput(
        f"{where}the model's output is not a finite number for these inputs; values this "
        "extreme are far outside what it was trained on"
    )


class Predictor:
    def __init__(
        self,
        uri: ModelURI,
        store: ModelStore,
        current: LoadedVersion,
        *,
        allow_pickle: bool = False,
    ) -> None:
        self.uri = uri
        self.store = store
        self.current = current
        self._allow_pickle = allow_pickle
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    @classmethod
    def load(
        cls,
        uri: str | ModelURI,
        *,
        store: ModelStore | str | None = None,
        allow_pickle: bool = False,
        strict: bool = False,
        refresh_every: float | None = None,
    ) -> Predictor:
        """Load a model URI (NAME, NAME@ALIAS, NAME:VERSION, optionally after a store URL)."""
        ref = ModelURI.parse(uri) if isinstance(uri, str) else uri
        if not isinstance(store, ModelStore):
            store = ModelStore(store or ref.store)
        name, version = store.resolve(ref)
        predictor = cls(
            ref, store, _load(store, name, version, allow_pickle, strict), allow_pickle=allow_pickle
        )
        if refresh_every is not None:
            predictor.refresh_every(refresh_every)
        return predictor

    # What is loaded now

    @property
    def card(self) -> ModelCard:
        return self.current.card

    @property
    def name(self) -> str:
        return self.current.name

    @property
    def version(self) -> int:
        return self.current.version

    @property
    def signature(self) -> Signature:
        return self.current.card.signature

    @property
    def output(self) -> OutputKind:
        return self.current.card.signature.output

    @property
    def strict(self) -> bool:
        return self.current.strict

    def __repr__(self) -> str:
        return f"Predictor({self.name}:{self.version}, {self.output}, from {self.uri})"

    # Predictions, each from the version loaded when the call starts

    def predict_one(self, record: Mapping[Any, Any]) -> float:
        """One record: the hot path of every server."""
        return self.current.predict_one(record)

    def predict_records(self, records: Sequence[Mapping[Any, Any]]) -> list[float]:
        return self.current.predict_records(records)

    def predict_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
        """Rows of values under named columns (MLflow's dataframe_split), in any column order."""
        return self.current.predict_rows(columns, rows)

    def predict_batch(self, batch: Batch) -> list[float]:
        """Any request shape of predict/requests.py (records, rows, columns, child rows)."""
        return self.current.predict_batch(batch)

    def predict_children(self, children: Any) -> list[float]:
        """Scores from child rows (a game's plays), for a model trained on features
        computed from them (scalepipe.features): one per parent, in key order."""
        return self.current.predict_children(children)

    def predict_frame(self, frame: Any) -> Any:
        """Scores for a DataFrame holding the signature's columns (others are ignored)."""
        return self.current.predict_frame(frame)

    def predict_array(self, array: Any) -> Any:
        """Scores for a 2-D array whose columns follow the signature's order."""
        return self.current.predict_array(array)

    # Reloading

    def refresh(self) -> bool:
        """Re-resolve the URI; load and swap in the version it points at if it changed."""
        with self._refresh_lock:
            name, version = self.store.resolve(self.uri)
            previous = self.current
            if (name, version) == (previous.name, previous.version):
                return False
            self.current = _load(self.store, name, version, self._allow_pickle, previous.strict)
            log.info("loaded %s:%s in place of version %s", name, version, previous.version)
            return True

    def refresh_every(self, seconds: float) -> None:
        """Re-check the URI every `seconds` in a background thread (until close())."""
        if seconds <= 0:
            raise ValueError(f"refresh interval must be positive, got {seconds}")
        if self._refresher is not None:
            raise RuntimeError("this predictor already refreshes in the background")

        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.refresh()
                except Exception:
                    log.exception(
                        "refreshing %s failed; keeping version %s", self.uri, self.version
                    )

        self._refresher = threading.Thread(target=loop, name=f"refresh {self.uri}", daemon=True)
        self._refresher.start()

    def close(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load(
    store: ModelStore, name: str, version: int, allow_pickle: bool, strict: bool
) -> LoadedVersion:
    card = store.card(name, version)
    probability = card.signature.output == "probability"
    scorer: Scorer
    accepts_missing = False
    if card.fast_path is not None:
        form = json.loads(store.read_version(name, version, only=(LINEAR_FILE,))[LINEAR_FILE])
        scorer = LinearScorer(form["weights"], form["bias"], logistic=card.fast_path == "logistic")
    else:
        from scalepipe.store.formats import load_artifact

        data = store.read_version(name, version, only=(card.artifact_path,))[card.artifact_path]
        model = load_artifact(card.artifact_format, data, allow_pickle=allow_pickle)
        if card.artifact_format == "keras":
            scorer = KerasScorer(model)
        else:
            scorer = EstimatorScorer(model, probability, card.signature.names)
            accepts_missing = type(model).__name__ in _MISSING_AWARE
    return LoadedVersion(card, scorer, accepts_missing, strict, _features(store, card))


def _features(store: ModelStore, card: ModelCard) -> FeatureDefinition | None:
    if card.features is None:
        return None
    from scalepipe.features.definition import FeatureDefinition
    from scalepipe.store.errors import IntegrityError

    data = store.read_version(card.name, card.version, only=(card.features,))[card.features]
    definition = FeatureDefinition.from_json(data)
    if definition.model_features != card.signature.names:
        raise IntegrityError(
            f"{card.name}:{card.version}: {card.features} names other features than the "
            "model's signature"
        )
    return definition
