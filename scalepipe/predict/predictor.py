"""The Predictor: every target's one way to a model.

It loads a version from the store (checking every file it reads against the
manifest), knows the signature, validates and coerces inputs, scores through the
fastest path the model allows, and can swap in a newly promoted version while other
threads keep predicting: each call uses one consistent model from start to end.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from scalepipe.predict.inputs import InvalidInput, check_matrix, frame_matrix, record_row
from scalepipe.predict.scorers import EstimatorScorer, KerasScorer, LinearScorer, Scorer
from scalepipe.signature import OutputKind, Signature
from scalepipe.store.card import CARD, ModelCard
from scalepipe.store.formats import LINEAR_FILE
from scalepipe.store.store import ModelStore
from scalepipe.store.uri import ModelURI

log = logging.getLogger(__name__)
# Estimators that take NaN as "missing" natively.
_MISSING_AWARE = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    scorer: Scorer
    names: tuple[str, ...]
    accepts_missing: bool

    @cached_property
    def pick(self) -> Callable[[Mapping[Any, Any]], tuple[Any, ...]]:
        """A record's values in signature order, as a tuple (operator.itemgetter, in C)."""
        if len(self.names) == 1:
            name = self.names[0]
            return lambda record: (record[name],)
        return itemgetter(*self.names)


class Predictor:
    def __init__(
        self,
        uri: ModelURI,
        store: ModelStore,
        loaded: LoadedModel,
        *,
        allow_pickle: bool = False,
        strict: bool = False,
    ) -> None:
        self.uri = uri
        self.store = store
        self.strict = strict
        self._allow_pickle = allow_pickle
        self._loaded = loaded
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
            ref,
            store,
            _load(store, name, version, allow_pickle),
            allow_pickle=allow_pickle,
            strict=strict,
        )
        if refresh_every is not None:
            predictor.refresh_every(refresh_every)
        return predictor

    # What is loaded

    @property
    def card(self) -> ModelCard:
        return self._loaded.card

    @property
    def name(self) -> str:
        return self._loaded.card.name

    @property
    def version(self) -> int:
        return self._loaded.card.version

    @property
    def signature(self) -> Signature:
        return self._loaded.card.signature

    @property
    def output(self) -> OutputKind:
        return self._loaded.card.signature.output

    def __repr__(self) -> str:
        return f"Predictor({self.name}:{self.version}, {self.output}, from {self.uri})"

    # Predictions

    def predict_one(self, record: Mapping[Any, Any]) -> float:
        """One record: the hot path of every server."""
        loaded = self._loaded
        row = record_row(
            record, loaded.names, accepts_missing=loaded.accepts_missing, strict=self.strict
        )
        return loaded.scorer.score_row(row)

    def predict_records(self, records: Sequence[Mapping[Any, Any]]) -> list[float]:
        loaded = self._loaded
        if len(records) == 1:
            return [self._score_one(loaded, records[0], 0)]
        if not records:
            return []
        matrix = None if self.strict else _plain_matrix(loaded, records)
        if matrix is not None:
            fast: list[float] = loaded.scorer.score_matrix(matrix).tolist()
            return fast
        rows = []
        for index, record in enumerate(records):
            try:
                rows.append(
                    record_row(
                        record,
                        loaded.names,
                        accepts_missing=loaded.accepts_missing,
                        strict=self.strict,
                    )
                )
            except InvalidInput as error:
                raise InvalidInput(f"record {index}: {error}", error.field) from None
        import numpy as np

        result: list[float] = loaded.scorer.score_matrix(np.array(rows, dtype=np.float64)).tolist()
        return result

    def predict_rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
        """Rows of values under named columns (MLflow's dataframe_split), in any column order."""
        loaded = self._loaded
        missing = [name for name in loaded.names if name not in columns]
        if missing:
            raise InvalidInput(f"missing feature(s): {', '.join(missing)}", missing[0])
        if not rows:
            return []
        import numpy as np

        order = [list(columns).index(name) for name in loaded.names]
        try:
            matrix = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            matrix = None
        if matrix is not None and matrix.ndim == 2 and matrix.shape[1] == len(columns):
            chosen = matrix[:, order]
            if np.isfinite(chosen).all():
                result: list[float] = loaded.scorer.score_matrix(chosen).tolist()
                return result
        # Something needs a word: go record by record, which names the row and field.
        names = list(columns)
        records = []
        for index, row in enumerate(rows):
            if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != len(names):
                raise InvalidInput(
                    f"row {index} must be a list of {len(names)} values, one per column"
                )
            records.append(dict(zip(names, row, strict=True)))
        return self.predict_records(records)

    def predict_frame(self, frame: Any) -> Any:
        """Scores for a DataFrame holding the signature's columns (others are ignored)."""
        loaded = self._loaded
        return loaded.scorer.score_matrix(frame_matrix(frame, loaded.names, loaded.accepts_missing))

    def predict_array(self, array: Any) -> Any:
        """Scores for a 2-D array whose columns follow the signature's order."""
        loaded = self._loaded
        return loaded.scorer.score_matrix(check_matrix(array, loaded.names, loaded.accepts_missing))

    def _score_one(self, loaded: LoadedModel, record: Mapping[Any, Any], index: int) -> float:
        try:
            row = record_row(
                record, loaded.names, accepts_missing=loaded.accepts_missing, strict=self.strict
            )
        except InvalidInput as error:
            raise InvalidInput(f"record {index}: {error}", error.field) from None
        return loaded.scorer.score_row(row)

    # Reloading

    def refresh(self) -> bool:
        """Re-resolve the URI; load and swap in the version it points at if it changed."""
        with self._refresh_lock:
            name, version = self.store.resolve(self.uri)
            previous = self._loaded.card
            if (name, version) == (previous.name, previous.version):
                return False
            self._loaded = _load(self.store, name, version, self._allow_pickle)
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


def _plain_matrix(loaded: LoadedModel, records: Sequence[Mapping[Any, Any]]) -> Any:
    """The records as a float64 matrix in one pass through C, when nothing needs a word.

    Numbers, numeric strings and booleans convert exactly as record by record; anything
    else (a missing field, a word, NaN where the model refuses it) returns None, and the
    record-by-record path then names the record and field at fault.
    """
    import numpy as np

    pick = loaded.pick
    try:
        matrix = np.array([pick(record) for record in records], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] != len(loaded.names):
        return None
    finite = np.isfinite(matrix)
    if not finite.all() and not (loaded.accepts_missing and (finite | np.isnan(matrix)).all()):
        return None
    return matrix


def _load(store: ModelStore, name: str, version: int, allow_pickle: bool) -> LoadedModel:
    card = ModelCard.from_json(store.read_version(name, version, only=(CARD,))[CARD])
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
            scorer = EstimatorScorer(model, probability)
            accepts_missing = type(model).__name__ in _MISSING_AWARE
    return LoadedModel(card, scorer, card.signature.names, accepts_missing)
