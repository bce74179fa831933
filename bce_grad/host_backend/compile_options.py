"""Options a compile reads from its context: whether it builds generic strided kernels.

Kept apart from :mod:`~bce_grad.host_backend.build` so that the classifier and the schedule
rules, which ``build`` imports, read the option without importing ``build`` back.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_strided: ContextVar[bool] = ContextVar("bce_grad_strided_inputs", default=False)


@contextmanager
def strided_inputs(enabled: bool = True) -> Iterator[None]:
    """Compile generic strided kernels in this context until the block ends.

    Inside it, ``classify`` keeps every axis of the descriptions (no merging), and ``build``
    declares each input buffer with one symbolic stride per axis (see
    :mod:`~bce_grad.host_backend.schedule.alignment`), so a broadcast input is passed with
    x's shape and stride 0 on its broadcast axes and read in place. The build config key
    ``strided_inputs`` does the same for one ``build``.
    """
    token = _strided.set(bool(enabled))
    try:
        yield
    finally:
        _strided.reset(token)


def strided_inputs_enabled() -> bool:
    """Whether this context compiles generic strided kernels (:func:`strided_inputs`)."""
    return _strided.get()
