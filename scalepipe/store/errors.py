"""What the model store reports when it cannot do what was asked."""

from __future__ import annotations


class StoreError(ValueError):
    """A model, version or alias that does not exist, or a request the store refuses."""


class IntegrityError(StoreError):
    """A stored file no longer matches the sha256 recorded when its version was published."""


class UnsafeModelError(StoreError):
    """Loading this model would run code from its artifact, and the caller did not opt in."""
