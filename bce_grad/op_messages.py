"""The operator's error texts that more than one place raises: each written once, here.

The Python API, the native runtime (C++), the framework adapters (C++ and Python) and the host
backend's ``para_check`` raise these refusals with the same CANN code and the same words. The C++
side gets them from ``bce_grad/runtime/include/bce_grad_op_facts.h``, which
:mod:`bce_grad.runtime.facts_header` generates from this module and :mod:`bce_grad.op_support`
(a test checks that the checked-in header is current). The operator in ``impl/`` ships alone on
CANN and words its own E80029 detail; a test checks that it matches :data:`BROADCAST`.

A template's fields are ``{name}`` placeholders, filled by :meth:`Message.text` in Python and by
``bce_grad_facts::Render`` in C++. Texts that only one place raises stay where they are raised.

Examples
--------
>>> REDUCTION.text(names="['none', 'mean', 'sum']", values="[0, 1, 2]", value="'avg'")
"the parameter[reduction] should be one of ['none', 'mean', 'sum'] or aclnn's enum [0, 1, 2], \
but actually is ['avg']"
>>> RANK.code, RANK.with_op
('E80012', False)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Message", "MESSAGES", "REDUCTION", "DTYPE", "RANK", "DIM", "BROADCAST"]


@dataclass(frozen=True)
class Message:
    """One refusal: its CANN code, its template and whether the text names the op.

    Attributes
    ----------
    code : str
        The CANN error code (``E80009``).
    template : str
        The detail text with ``{field}`` placeholders.
    with_op : bool
        True: the full message reads ``[code] In op[binary_cross_entropy_grad], <detail>``;
        False: ``[code] <detail>`` (para_check's own wording starts ``In op, ...``).
    """

    code: str
    template: str
    with_op: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        """The placeholders' names, in order of first use."""
        return tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", self.template)))

    def text(self, **fields: object) -> str:
        """The detail text with every field filled (``str`` of each value).

        Raises
        ------
        KeyError
            When a field of the template is not given.
        """
        return self.template.format(**{name: fields[name] for name in self.fields})


#: A reduction that is neither a name nor aclnn's enum value (a ``ValueError`` kind).
REDUCTION = Message("E80009", "the parameter[reduction] should be one of {names} or aclnn's enum "
                              "{values}, but actually is [{value}]")
#: A dtype that the SoC's op info does not list for the parameter.
DTYPE = Message("E80008", "the parameter[{param}] dtype should be one of {allowed} on {soc} "
                          "(op_info_cfg/ai_core/{soc_dir}), but actually is [{dtype}]")
#: A rank outside [min_rank, max_rank] (para_check.check_shape's wording).
RANK = Message("E80012", "In op, the num of dimensions of input/output[{param}] should be in the "
                         "range of [{min_rank}, {max_rank}], but actually is [{rank}].", False)
#: A dim below the minimum (para_check.check_shape's wording).
DIM = Message("E80002", "In op, the dim value[{param}] should more than [{min_dim}], but actually "
                        "is [{dim}] (shape {shape}).", False)
#: An input that does not broadcast to x (the operator's check, error_manager_vector's E80029).
BROADCAST = Message("E80029", "the shape of inputs[x][{param}] are invalid, [shape {shape} of "
                              "{param} should broadcast to the shape {x_shape} of x].")

#: Every shared message by the name the generated C++ header gives it (``kMessage<Name>``).
MESSAGES = {"Reduction": REDUCTION, "Dtype": DTYPE, "Rank": RANK, "Dim": DIM,
            "Broadcast": BROADCAST}
