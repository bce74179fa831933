"""Errors raised by the host backend and the operator, in CANN's style.

Each error carries a CANN error code (``E8xxxx`` for vector operators, as CANN's
``error_manager_vector`` uses them), and its message names the operator, the
parameter, the rule and the value. :class:`OpError` subclasses ``RuntimeError``
because that is what CANN's ``raise_err_*`` functions raise, so test cases that
expect ``RuntimeError`` behave the same on CANN and on the host.
"""
from __future__ import annotations

#: CANN error codes used by this project, with what each one means.
ERROR_CODES = {
    "E80000": "a parameter has an invalid value",
    "E80001": "a mandatory parameter is missing",
    "E80002": "a parameter is out of its allowed range",
    "E80003": "a parameter has the wrong type",
    "E80008": "a dtype is not supported",
    "E80009": "a parameter breaks an operator rule",
    "E80011": "a shape's size is below its minimum",
    "E80012": "a tensor's rank is out of range",
    "E80015": "a format is not supported",
    "E80017": "two inputs have shapes that do not agree",
    "E80018": "two inputs have dtypes that do not agree",
    "E80028": "one input's shape is invalid",
    "E80029": "two inputs' shapes do not fit (y, grad_output or weight does not broadcast to x)",
    "E80030": "two inputs' dtypes do not fit",
    "E80031": "two inputs' formats do not fit",
    "E60005": "a dtype is invalid",
    "E60021": "a pad mode is invalid",
    "E61001": "a specific reason given in the message",
}


class OpError(RuntimeError):
    """A user-facing operator error with a CANN error code.

    Parameters
    ----------
    code : str
        The CANN error code, a key of :data:`ERROR_CODES`.
    message : str
        What went wrong: the parameter, the rule and the value.
    op_name : str, optional
        The operator or kernel the error belongs to.
    param_name : str, optional
        The parameter at fault, kept for programmatic checks.
    """

    def __init__(self, code: str, message: str, op_name: str = "", param_name: str = "") -> None:
        self.code = code
        self.op_name = op_name
        self.param_name = param_name
        self.detail = message
        prefix = f"[{code}] In op[{op_name}], " if op_name else f"[{code}] "
        super().__init__(prefix + message)

    @classmethod
    def from_error(cls, err: "OpError") -> "OpError":
        """The same error (code, text, operator, parameter) as an instance of ``cls``."""
        converted = cls(err.code, err.detail, err.op_name, err.param_name)
        converted.args = (str(err),)  # the text exactly as the original error shows it
        return converted


class OpValueError(OpError, ValueError):
    """An :class:`OpError` for a bad value: catchable as ``RuntimeError`` (CANN) and ``ValueError``."""


class OpTypeError(OpError, TypeError):
    """An :class:`OpError` for an argument of the wrong type: also a ``TypeError``."""
