"""What the compat layer raises: a CANN API the host backend cannot honour, and refusals."""
from __future__ import annotations


class CannCompatError(RuntimeError):
    """The compat layer cannot be installed here (a real CANN is importable, ...)."""


class UnsupportedApiError(Exception):
    """A CANN API name that imports on the host backend but cannot run there.

    The message names the API and why; nothing runs in its place. It is deliberately not a
    ``RuntimeError`` (CANN's operators raise those for bad input): a UT case that expects the
    operator's RuntimeError must not pass because the host could not run the operator.
    """

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(f"{api} is not available on the host backend (bce_grad.cann_compat): "
                         f"{reason}")
        self.api = api
        self.reason = reason


class Unhonoured:
    """Stands for a CANN name the host backend cannot honour: binding it works, using it raises.

    CANN code reads many names at import time (``platform_adapter`` reads 66 platform
    constants in a class body, imports ``tbe.tik``); the import must succeed, but any use
    (a call, a comparison, ``str``, an attribute of it) raises :class:`UnsupportedApiError`
    naming the API, never a made-up value.
    """

    __slots__ = ("_api", "_reason")

    def __init__(self, api: str, reason: str) -> None:
        object.__setattr__(self, "_api", api)
        object.__setattr__(self, "_reason", reason)

    def _refuse(self, *_args: object, **_kwargs: object):
        raise UnsupportedApiError(self._api, self._reason)

    __call__ = __str__ = __bool__ = __int__ = __float__ = __index__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _refuse  # type: ignore[assignment]
    __iter__ = __len__ = __getitem__ = __contains__ = __format__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = _refuse
    __enter__ = __exit__ = _refuse

    def __getattr__(self, name: str) -> "Unhonoured":
        if name.startswith("__"):
            raise AttributeError(name)
        return Unhonoured(f"{self._api}.{name}", self._reason)

    def __setattr__(self, name: str, value: object) -> None:
        self._refuse()

    def __repr__(self) -> str:
        return f"<{self._api}: not available on the host backend>"
