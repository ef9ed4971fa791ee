"""Input validation and coercion by the signature: the one place every target checks inputs.

The book's clients send numbers as strings ("1"), so numeric strings are accepted,
and booleans count as 0/1. Strings must be plain ASCII decimals: Python's float() would
also read "٣" as 3, "1_0" as 10 and " 1 " as 1, which no client means. A missing
feature, a value that is not a number, NaN or infinity (unless the model accepts missing
values) is refused with the field's name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scalepipe.errors import InvalidInput as InvalidInput


def coerce_value(name: str, value: Any, accepts_missing: bool) -> float:
    try:
        number = float(value)
        if type(value) is str and not _plain_decimal(value):
            raise ValueError(value)
    except (TypeError, ValueError, OverflowError):
        if value is None and accepts_missing:
            return math.nan
        shown = "null" if value is None else repr(value)
        raise InvalidInput(f"feature {name!r} must be a number, got {shown}", name) from None
    if number - number != 0.0:  # NaN or ±infinity, in one cheap comparison
        if number != number and accepts_missing:
            return number
        raise InvalidInput(f"feature {name!r} must be a finite number, got {value!r}", name)
    return number


# Numbers sent as text ("1", "0.5": the book's clients) and already checked, so that the
# hot path reads a feature in one dict lookup. Bounded: short texts only, and no new
# entries once full.
_TEXT_NUMBERS: dict[str, float] = {}
_TEXT_NUMBERS_MAX = 4096
_TEXT_NUMBER_LENGTH = 12


def record_row(
    record: Any, names: Sequence[str], *, accepts_missing: bool = False, strict: bool = False
) -> list[float]:
    """One record (a mapping of feature name to value) as floats in signature order."""
    if not isinstance(record, Mapping):
        raise InvalidInput(
            f"each record must be an object of features, got {type(record).__name__}"
        )
    row = []
    known = _TEXT_NUMBERS
    for name in names:
        try:
            value = record[name]
        except KeyError:
            missing = [n for n in names if n not in record]
            raise InvalidInput(f"missing feature(s): {', '.join(missing)}", missing[0]) from None
        if type(value) is str:
            number = known.get(value)
            if number is None:
                number = coerce_value(name, value, accepts_missing)
                if (
                    len(value) <= _TEXT_NUMBER_LENGTH
                    and len(known) < _TEXT_NUMBERS_MAX
                    and number == number  # NaN (a missing value) is not worth keeping
                ):
                    known[value] = number
            row.append(number)
        else:
            row.append(coerce_value(name, value, accepts_missing))
    if strict and len(record) != len(names):
        unknown = sorted(set(record) - set(names))
        if unknown:
            raise InvalidInput(f"unknown field(s): {', '.join(map(str, unknown))}", str(unknown[0]))
    return row


def text_number_rows(lines: Sequence[Sequence[str]]) -> list[list[float]] | None:
    """Rows of texts (a CSV body's) as floats when every value is a text of a plain, finite
    number; else None. Texts seen before cost one dict lookup each."""
    known = _TEXT_NUMBERS
    try:
        return [[known[text] for text in line] for line in lines]
    except (KeyError, TypeError):  # TypeError: a value that is no text (a list, say)
        pass
    rows = []
    for line in lines:
        row = []
        for text in line:
            if type(text) is not str:
                return None
            number = known.get(text)
            if number is None:
                if not text or not _plain_decimal(text):
                    return None
                try:
                    number = float(text)
                except ValueError:
                    return None
                if number - number != 0.0:  # NaN or infinity: the Predictor words it
                    return None
                if len(text) <= _TEXT_NUMBER_LENGTH and len(known) < _TEXT_NUMBERS_MAX:
                    known[text] = number
            row.append(number)
        rows.append(row)
    return rows


def _plain_decimal(text: str) -> bool:
    """True for text that float() read as a plain ASCII decimal (cheap: the hot path)."""
    return text.isascii() and "_" not in text and not text[0].isspace() and not text[-1].isspace()


def numeric_matrix(rows: Any) -> Any:
    """`rows` as a float64 array when every value is already a number (bool, int, float),
    else None: numpy would parse strings as loosely as float() does, so they go value by
    value through coerce_value."""
    import numpy as np

    try:
        array = np.asarray(rows)  # an array already (parsed by jsoncodec) is not copied
    except (TypeError, ValueError, OverflowError):
        return None
    if array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64, copy=False)


def check_matrix(matrix: Any, names: Sequence[str], accepts_missing: bool) -> Any:
    """A 2-D float64 array with one column per feature, finite unless missing is allowed."""
    import numpy as np

    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"inputs must be numbers: {error}") from None
    if array.ndim == 1 and array.shape[0] == len(names):
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != len(names):
        raise InvalidInput(
            f"inputs must have {len(names)} columns ({', '.join(names)}), got shape {array.shape}"
        )
    bad = ~np.isfinite(array)
    if accepts_missing:
        bad &= ~np.isnan(array)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        value = array[row, column]
        message = f"feature {names[column]!r} must be a finite number, got {value} in row {row}"
        raise InvalidInput(message, names[column])
    return array


def frame_matrix(frame: Any, names: Sequence[str], accepts_missing: bool) -> Any:
    """The signature's columns of a DataFrame (extra columns ignored) as a checked matrix."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InvalidInput(f"missing feature(s): {', '.join(missing)}", missing[0])
    columns = []
    for name in names:
        column = frame[name]
        try:
            columns.append(column.to_numpy(dtype="float64", na_value=float("nan")))
        except (TypeError, ValueError):
            bad = next(v for v in column if not _is_number(v))
            raise InvalidInput(f"feature {name!r} must be a number, got {bad!r}", name) from None
    import numpy as np

    return check_matrix(
        np.column_stack(columns) if columns else np.empty((len(frame), 0)), names, accepts_missing
    )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
