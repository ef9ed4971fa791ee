"""What the model store reports when it cannot do what was asked (kinds of ScalepipeError)."""

from scalepipe.errors import IntegrityError, StoreError, UnsafeModelError

__all__ = ["IntegrityError", "StoreError", "UnsafeModelError"]
