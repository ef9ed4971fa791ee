"""Every error a user can act on: ScalepipeError and its kinds.

The command line prints a ScalepipeError as one line and exits 2; anything else (a bug
in scalepipe, numpy or scikit-learn) keeps its traceback. Each kind is also a
ValueError, so code that caught ValueError before keeps working.
"""

from __future__ import annotations


class ScalepipeError(ValueError):
    """A request scalepipe cannot carry out, with a message that says what to change."""


class ConfigError(ScalepipeError):
    """The settings file or an environment variable holds a value scalepipe cannot use."""


class DatasetError(ScalepipeError):
    """A dataset name, source or table that scalepipe cannot use, with what to do instead."""


class SignatureError(ScalepipeError):
    """A signature that cannot be built or read."""


class TrainingError(ScalepipeError):
    """A training request that cannot run, with what to change."""


class StoreError(ScalepipeError):
    """A model, version or alias that does not exist, or a request the store refuses."""


class IntegrityError(StoreError):
    """A stored file no longer matches what was published (hash, signature or place)."""


class UnsafeModelError(StoreError):
    """Loading this model would run code from its artifact, and the caller did not opt in."""


class InvalidInput(ScalepipeError):
    """An input the model cannot score; `field` names the feature at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PackageError(ScalepipeError):
    """A package that cannot be built, or would not fit the platform's limits."""


class ServeError(ScalepipeError):
    """A server that cannot start as asked: no models, a port in use, a bad key file."""


class MalformedRequest(ScalepipeError):
    """A request whose shape no protocol of the route allows (HTTP 400), as opposed to
    well-formed inputs the model cannot score (InvalidInput, HTTP 422)."""


class StreamError(ScalepipeError):
    """A broker URL, topic or consumer setting a stream job cannot use, or a broker that
    does not answer."""
