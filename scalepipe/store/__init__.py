"""The versioned model store: publish once, load anywhere."""

from scalepipe.store.card import ModelCard
from scalepipe.store.errors import IntegrityError, StoreError, UnsafeModelError
from scalepipe.store.signing import SigningKey
from scalepipe.store.store import ModelStore, PreparedModel, prepare_model
from scalepipe.store.uri import DEFAULT_ALIAS, ModelURI

__all__ = [
    "DEFAULT_ALIAS",
    "IntegrityError",
    "ModelCard",
    "ModelStore",
    "ModelURI",
    "PreparedModel",
    "SigningKey",
    "StoreError",
    "UnsafeModelError",
    "prepare_model",
]
