"""The two number systems the rules in :mod:`backcheck.ops` run on.

``FLOAT``: NumPy float64, vectorised. ``EXACT``: NumPy object arrays whose elements are
:class:`~backcheck.exact.Exact` numbers (rationals stay rationals). Both expose the same
few functions, so every rule is written once.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .exact import Exact


class FloatBackend:
    name = "float64"

    where = staticmethod(np.where)
    matmul = staticmethod(np.matmul)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    tanh = staticmethod(np.tanh)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    power = staticmethod(np.power)

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def sigmoid(x: Any) -> Any:
        # stable on both tails: exp never sees a large positive argument
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def softmax(x: Any) -> Any:
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> np.ndarray:
        """float64 array from Fractions, Exacts, ints or floats (any nesting)."""
        array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
        if array.dtype == object:
            return np.vectorize(float, otypes=[np.float64])(array) if array.size else np.zeros(
                array.shape
            )
        return np.asarray(array, dtype=np.float64)


def _exact_function(method: str) -> Any:
    unbound = getattr(Exact, method)
    vectorised = np.frompyfunc(lambda x: unbound(Exact.of(x)), 1, 1)

    def apply(x: Any) -> Any:
        return np.asarray(vectorised(x), dtype=object)

    return apply


class ExactBackend:
    name = "exact"

    where = staticmethod(np.where)
    exp = staticmethod(_exact_function("exp"))
    log = staticmethod(_exact_function("log"))
    tanh = staticmethod(_exact_function("tanh"))
    sqrt = staticmethod(_exact_function("sqrt"))
    sin = staticmethod(_exact_function("sin"))
    cos = staticmethod(_exact_function("cos"))
    sigmoid = staticmethod(_exact_function("sigmoid"))
    abs = staticmethod(_exact_function("__abs__"))

    @staticmethod
    def sign(x: Any) -> Any:
        return np.asarray(np.frompyfunc(lambda v: Exact.of(v).sign(), 1, 1)(x), dtype=object)

    @staticmethod
    def power(x: Any, y: Any) -> Any:
        return np.asarray(np.frompyfunc(lambda a, b: Exact.of(a) ** b, 2, 1)(x, y), dtype=object)

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        if a.shape[-1] == 0:
            return np.full(a.shape[:-1] + b.shape[-1:], Exact(Fraction(0)), dtype=object)
        return np.matmul(a, b)

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        total = np.sum(x, axis=axis, keepdims=keepdims)
        return np.asarray(total, dtype=object)

    @staticmethod
    def softmax(x: Any) -> Any:
        e = ExactBackend.exp(x)
        return e / np.sum(e, axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> np.ndarray:
        """Object array of Exact from Fractions, ints or Exacts (any nesting)."""
        array = np.asarray(values, dtype=object)
        if array.size == 0:
            return array
        return np.asarray(np.frompyfunc(Exact.of, 1, 1)(array), dtype=object).reshape(array.shape)


FLOAT = FloatBackend()
EXACT = ExactBackend()
