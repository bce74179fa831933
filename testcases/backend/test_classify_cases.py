"""``classify`` compiles the cases that cover every shape in the declared ranges (issue 15).

Pure logic, no compile: the cases ``classify`` returns, and that :class:`Kernel`'s case
selection finds one of them for every concrete shape inside the ranges.
"""
from __future__ import annotations

import itertools

import pytest

from bce_grad.host_backend.dsl.classify import MAX_CASES, classify
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend.launch import Kernel, _canonical_of

X_COMPLETE = {"input_shape_type": [1, 0, 0]}


def _desc(shape, rng=None):
    return {"shape": list(shape), "dtype": "float32", "format": "ND",
            **({"range": list(rng)} if rng is not None else {})}


def _shapes(cases):
    return [[d["shape"] for d in case] for case in cases]


def _fake_kernel(cases) -> Kernel:
    """A Kernel whose meta lists ``cases`` as ``build`` writes them (a var per dynamic axis)."""
    kernel = Kernel.__new__(Kernel)
    kernel.name = "fake"
    listed = []
    for index, case in enumerate(cases):
        shapes = [d["shape"] for d in case]
        rank = max(len(s) for s in shapes)
        out = [f"dim_{a}" if any(s[a] == -1 for s in shapes) else max(s[a] for s in shapes)
               for a in range(rank)]
        tensors = [{"name": f"in{i}", "role": "input", "dtype": "float32",
                    "shape": [f"dim_{a}" if d == -1 else d for a, d in enumerate(s)]}
                   for i, s in enumerate(shapes)]
        tensors.append({"name": "out", "role": "output", "dtype": "float32", "shape": out})
        listed.append({"function": f"fake__{index}", "tensors": tensors, "scalars": []})
    kernel.meta = {"name": "fake", "cases": listed}
    kernel._canonical = [_canonical_of(c) for c in listed]
    kernel._chosen = {}
    return kernel


def _in_range(dim, rng):
    low, high = rng
    return dim >= low and (high is None or dim <= high)


def test_dim_bound_to_one_gets_its_own_case():
    """The issue's ST case: x [-1, 16] with range (1, 64); y and grad_output [1, 16]."""
    cases = classify([_desc([-1, 16], [(1, 64), (16, 16)]), _desc([1, 16]), _desc([1, 16])],
                     "broadcast", X_COMPLETE)
    assert _shapes(cases) == [[[16], [16], [16]], [[-1, 16], [1, 16], [1, 16]]]
    assert cases[1][0]["range"] == [(2, 64), (16, 16)]  # the known 16 stays static


def test_unknown_dim_of_a_broadcasting_input_gives_a_broadcast_variant():
    """y [-1, 16] may be 1 on the -1 axis while x is not: a case where y broadcasts."""
    cases = classify([_desc([-1, 16]), _desc([-1, 16]), _desc([-1, 16])], "broadcast", X_COMPLETE)
    got = sorted(map(str, _shapes(cases)))
    assert got == sorted(map(str, [[[-1], [-1], [-1]], [[-1, 16], [1, 16], [1, 16]],
                                   [[-1, 16], [-1, 16], [1, 16]], [[-1, 16], [1, 16], [-1, 16]]]))


def test_a_range_above_one_compiles_one_case():
    """Dims known to be > 1 (as the kernel cache declares a canonical pattern) give one case."""
    ins = [_desc([-1, -1], [(2, None)] * 2), _desc([1, -1], [(1, 1), (2, None)]),
           _desc([-1, -1], [(2, None)] * 2)]
    assert _shapes(classify(ins, "broadcast", X_COMPLETE)) == [[[-1, -1], [1, -1], [-1, -1]]]


def test_complete_input_never_broadcasts():
    """input_shape_type 1 (x): no case makes x 1 where another input is not."""
    without = classify([_desc([-1]), _desc([-1])], "broadcast")
    with_x = classify([_desc([-1]), _desc([-1])], "broadcast", {"input_shape_type": [1, 0]})
    assert [[1], [-1]] in _shapes(without)
    assert [[1], [-1]] not in _shapes(with_x) and [[-1], [1]] in _shapes(with_x)


def test_unknown_rank_and_many_variants_fall_back_to_declared_and_elementwise():
    unknown = classify([_desc([-2])] * 3, "broadcast", X_COMPLETE)
    assert _shapes(unknown) == [[[-1], [-1], [-1]]]
    many = classify([_desc([-1, -1]), _desc([1, -1]), _desc([-1, 1]), _desc([-1, -1])],
                    "broadcast", {"input_shape_type": [1, 0, 0, 0]})
    assert len(many) <= MAX_CASES
    assert [[-1], [-1], [-1], [-1]] in _shapes(many)
    assert [[-1, -1], [1, -1], [-1, 1], [-1, -1]] in _shapes(many)


def test_a_range_for_the_leading_dims_only():
    """canndev's cases give a range for the leading dims only (Add: shape (-1, 3, 100, 16),
    range [(1, 200)]); the dims past it are static here or unbounded."""
    cases = classify([_desc([-1, 3, -1], [(1, 200)]), _desc([3, 1])], "broadcast")
    assert cases, "a short range list should classify"
    shortened = classify([_desc([-1, 4], [(2, 9)]), _desc([4])], "broadcast")
    full = classify([_desc([-1, 4], [(2, 9), (4, 4)]), _desc([4])], "broadcast")
    assert _shapes(shortened) == _shapes(full)


def test_unknown_rank_beside_a_known_shape():
    cases = classify([_desc([-2]), _desc([16])], "broadcast", {"input_shape_type": [1, 0]})
    assert _shapes(cases) == [[[16], [16]], [[-1, 16], [1, 16]]]


@pytest.mark.parametrize("ins, extra, code, words", [
    ([_desc([-1, 4], [(1, 8), (4, 4), (1, 2)]), _desc([4])], None, "E80000",
     "at most one (low, high) pair per dim"),
    ([_desc([-1], [(5, 2)]), _desc([1])], None, "E80000", "0 <= low <= high"),
    ([_desc([-1], [(2, 4)]), _desc([8])], None, "E80017", "should broadcast together"),
    ([_desc([3]), _desc([4])], None, "E80017", "should broadcast together"),
    ([_desc([-1]), _desc([-1])], {"input_shape_type": [1]}, "E80000", "input_shape_type"),
    ([_desc([1, 4]), _desc([3, 4])], {"input_shape_type": [1, 0]}, "E80017", "never broadcasts"),
])
def test_classify_errors_name_the_rule(ins, extra, code, words):
    with pytest.raises(OpError) as err:
        classify(ins, "broadcast", extra)
    assert err.value.code == code and words in str(err.value)


def test_elewise_mode_keeps_one_shape():
    cases = classify([_desc([-1, 8]), _desc([-1, 8])], "elewise")
    assert all(len({str(d["shape"]) for d in case}) == 1 for case in cases)
    with pytest.raises(OpError, match="E80017"):
        classify([_desc([-1, 8]), _desc([1, 8])], "elewise")


GRID = [
    # (descriptions x, y, grad_output; per-axis candidate sizes for x)
    ([_desc([-1, 16], [(1, 64), (16, 16)]), _desc([1, 16]), _desc([1, 16])], [[1, 2, 64], [16]]),
    ([_desc([-1, 3], [(1, 4), (3, 3)]), _desc([-1, 3], [(1, 4), (3, 3)]), _desc([-1, 1], [(1, 4), (1, 1)])],
     [[1, 2, 4], [3]]),
    ([_desc([-1, -1], [(1, 3)] * 2), _desc([-1, -1], [(1, 3)] * 2), _desc([-1, -1], [(1, 3)] * 2)],
     [[1, 2, 3], [1, 2, 3]]),
    ([_desc([-1, -1, -1], [(1, 2)] * 3), _desc([1, -1, -1], [(1, 1)] + [(1, 2)] * 2),
      _desc([-1], [(1, 2)])], [[1, 2]] * 3),
    ([_desc([-2]), _desc([-2]), _desc([-2])], [[1, 3], [1, 2]]),
]


@pytest.mark.parametrize("ins, sizes", GRID)
def test_every_shape_in_the_ranges_has_a_case(ins, sizes):
    """Property: every concrete shape combination inside the ranges selects a case."""
    cases = classify(ins, "broadcast", X_COMPLETE)
    kernel = _fake_kernel(cases)
    served = 0
    for x_shape in itertools.product(*sizes):
        options = []
        for desc in ins[1:]:
            shape = desc["shape"] if desc["shape"] != [-2] else [-1] * len(x_shape)
            rank = len(shape)
            x_tail = x_shape[len(x_shape) - rank:]
            rngs = desc.get("range") or [(d, d) if d != -1 else (1, None) for d in shape]
            per_axis = [sorted({1, xd} & {d for d in (1, xd) if _in_range(d, r)})
                        if s == -1 else [s] for s, xd, r in zip(shape, x_tail, rngs)]
            options.append(list(itertools.product(*per_axis)))
        for others in itertools.product(*options):
            shapes = [x_shape, *others, x_shape]
            case, targets, expand = kernel._select([tuple(s) for s in shapes])
            assert case in kernel.meta["cases"]
            served += 1
    assert served > 0


def test_no_case_names_the_shapes():
    kernel = _fake_kernel(classify([_desc([-1, 16], [(2, 64), (16, 16)]), _desc([1, 16])],
                                   "broadcast", {"input_shape_type": [1, 0]}))
    with pytest.raises(OpError, match=r"has no case for tensor shapes \[\[4, 16\], \[4, 16\]"):
        kernel.case_for([(4, 16), (4, 16), (4, 16)])  # y was declared [1, 16]: it broadcasts
