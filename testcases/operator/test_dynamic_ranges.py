"""A dynamic kernel serves every shape inside its declared ranges (issue 15, bug 3).

The dynamic entry is compiled as the UT and ST runners compile it (``host_kernel``), and
launched with plain arrays: the :class:`~bce_grad.host_backend.launch.Kernel` picks the case
and binds the shapes. Every result is compared bit for bit with the golden.
"""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from bce_grad.golden import binary_cross_entropy_grad_golden as golden
from bce_grad.host_backend.errors import OpError
from bce_grad.host_backend import launch
from bce_grad.host_backend.launch import load_kernel
from bce_grad.tools.cli import main
from bce_grad.tools.ut_frame import host_kernel

OP_TYPE = "BinaryCrossEntropyGrad"
SOC = "Ascend910B1"
NAMES = ("x", "y", "grad_output", "weight")


def _desc(shape, rng=None, dtype="float16"):
    return {"shape": list(shape), "dtype": dtype, "format": "ND", "ori_shape": list(shape),
            "ori_format": "ND", **({"range": [tuple(r) for r in rng]} if rng else {})}


def _compile(tmp_path, descs, reduction, name):
    """Compile the dynamic entry for ``descs`` (x, y, grad_output, weight or None)."""
    func = host_kernel.import_op_func("impl.dynamic.binary_cross_entropy_grad",
                                      "binary_cross_entropy_grad")
    params = [*descs, dict(descs[0])]
    host_kernel.compile_op(func, params, {"reduction": reduction, "kernel_name": name}, SOC, tmp_path)
    return tmp_path / f"{name}.json"


def _inputs(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    low = {"x": (0.05, 0.95), "y": (0.0, 1.0), "grad_output": (-2.0, 2.0), "weight": (0.5, 2.0)}
    return {name: rng.uniform(*low[name], shape).astype(dtype)
            for name, shape in zip(NAMES, shapes) if shape is not None}


def _run(json_path, arrays, reduction, dtype):
    (out,) = host_kernel.launch(json_path, OP_TYPE, list(arrays.items()),
                                [("output", {"shape": list(arrays["x"].shape), "dtype": dtype})],
                                {"reduction": reduction})
    return out


def _check(json_path, shapes, reduction, dtype="float16", seed=0):
    arrays = _inputs(shapes, dtype, seed)
    out = _run(json_path, arrays, reduction, dtype)
    want = golden(x=arrays["x"], y=arrays["y"], grad_output=arrays["grad_output"], weight=arrays.get("weight"),
                  reduction=reduction, compute_dtype="float32", out_dtype=dtype)
    assert out.shape == arrays["x"].shape
    assert out.tobytes() == want.tobytes(), (shapes, np.abs(out.astype(float) - want).max())


def test_st_case_dim_bound_to_one(tmp_path):
    """The issue's ST case: x [-1, 16] with range (1, 64) bound to [1, 16]; y, grad [1, 16]."""
    json_path = _compile(tmp_path, [_desc([-1, 16], [(1, 64), (16, 16)]), _desc([1, 16]),
                                    _desc([1, 16]), None], "none", "st_dim_one")
    assert len(json.loads(json_path.read_text())["cases"]) == 2  # "x is 1" and "x is not 1"
    for rows in (1, 5, 64):
        _check(json_path, [(rows, 16), (1, 16), (1, 16), None], "none")


def test_input_broadcasting_along_a_dynamic_dim(tmp_path):
    """y and grad_output are declared [-1, 16] like x, and are 1 along that axis at run time."""
    rng = [(1, 64), (16, 16)]
    json_path = _compile(tmp_path, [_desc([-1, 16], rng), _desc([-1, 16], rng),
                                    _desc([-1, 16], rng), None], "sum", "dyn_brc")
    for shapes in ([(4, 16), (1, 16), (4, 16)], [(4, 16), (4, 16), (1, 16)],
                   [(4, 16), (1, 16), (1, 16)], [(4, 16), (4, 16), (4, 16)],
                   [(1, 16), (1, 16), (1, 16)]):
        _check(json_path, [*shapes, None], "sum")



def test_remembered_cases_stay_per_shapes(tmp_path, monkeypatch):
    """A kernel remembers which case serves which shapes: launches that alternate between shapes
    of different cases stay bit-exact, a remembered shape still has its dtypes checked, and the
    memo stays within :data:`~bce_grad.host_backend.launch.SELECT_MEMO`."""
    monkeypatch.setattr(launch, "SELECT_MEMO", 2)
    rng = [(1, 64), (16, 16)]
    json_path = _compile(tmp_path, [_desc([-1, 16], rng), _desc([-1, 16], rng),
                                    _desc([-1, 16], rng), None], "none", "memo")
    kernel = load_kernel(json_path)
    combos = ([(4, 16), (1, 16), (4, 16)], [(4, 16), (4, 16), (4, 16)],
              [(1, 16), (1, 16), (1, 16)], [(4, 16), (4, 16), (1, 16)])
    chosen = {}
    for seed, shapes in enumerate([*combos, *combos[::-1], *combos]):
        arrays = _inputs([*shapes, None], "float16", seed)
        out = np.empty(shapes[0], np.float16)
        kernel([*arrays.values(), out])
        want = golden(x=arrays["x"], y=arrays["y"], grad_output=arrays["grad_output"], weight=None, reduction="none", compute_dtype="float32",
                      out_dtype="float16")
        assert out.tobytes() == want.tobytes(), shapes
        case = kernel.case_for([*shapes, shapes[0]])["function"]
        assert chosen.setdefault(str(shapes), case) == case
        assert len(kernel._chosen) <= 2
    assert len(set(chosen.values())) > 1  # the combos really take different cases
    arrays = _inputs([*combos[0], None], "float32", 0)
    with pytest.raises(OpError, match="E80008|expects tensor"):
        kernel([*arrays.values(), np.empty(combos[0][0], np.float32)])

#: Declarations of a small grid: (descriptions x, y, grad_output, weight; sizes tried per x axis).
GRID = {
    "two_dynamic_axes": ([_desc([-1, -1], [(1, 3)] * 2), _desc([-1, -1], [(1, 3)] * 2),
                          _desc([-1, 1], [(1, 3), (1, 1)]), None], [[1, 2, 3], [1, 3]]),
    "fixed_inner_weight": ([_desc([-1, 4], [(1, 3), (4, 4)]), _desc([-1, 4], [(1, 3), (4, 4)]),
                            _desc([4]), _desc([-1, 1], [(1, 3), (1, 1)])], [[1, 2, 3], [4]]),
    "unknown_rank": ([_desc([-2]), _desc([-2]), _desc([-2]), None], [[1, 2], [1, 3]]),
}


def _in_range(size, rng):
    return rng[0] <= size and (rng[1] is None or size <= rng[1])


def _shape_choices(desc, x_shape):
    shape = desc["shape"] if desc["shape"] != [-2] else [-1] * len(x_shape)
    ranges = desc.get("range") or [(1, None) if d == -1 else (d, d) for d in shape]
    tail = x_shape[len(x_shape) - len(shape):]
    per_axis = [[d for d in sorted({1, xd}) if _in_range(d, r)] if s == -1 else [s]
                for s, xd, r in zip(shape, tail, ranges)]
    return [tuple(c) for c in itertools.product(*per_axis)]


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("grid", sorted(GRID))
def test_every_shape_in_a_range_grid_is_served_bit_exact(tmp_path, grid, reduction):
    """Property: every shape combination inside the declared ranges runs and matches the golden."""
    descs, sizes = GRID[grid]
    json_path = _compile(tmp_path, descs, reduction, f"grid_{grid}_{reduction}")
    count = 0
    for x_shape in itertools.product(*sizes):
        others = [[None] if d is None else _shape_choices(d, x_shape) for d in descs[1:]]
        for combo in itertools.product(*others):
            _check(json_path, [x_shape, *combo], reduction, seed=count)
            count += 1
    assert count >= 8


def test_kernel_binds_plain_arrays_and_refuses_what_no_case_serves(tmp_path):
    json_path = _compile(tmp_path, [_desc([-1, 16], [(1, 64), (16, 16)]), _desc([1, 16]),
                                    _desc([1, 16]), None], "none", "bind_errors")
    kernel = load_kernel(json_path)
    x = np.full((3, 16), 0.5, np.float16)
    y = np.zeros((1, 16), np.float16)
    out = np.empty((16, 3), np.float16).T  # x's shape, but not C-contiguous
    with pytest.raises(OpError, match="should be C-contiguous"):
        kernel([x, y, y, out])
    with pytest.raises(OpError, match="has no case for tensor shapes"):
        kernel([x, x, x, np.empty((3, 16), np.float16)])  # y was declared [1, 16]


def test_elementwise_case_serves_broadcast_shapes_of_an_unknown_rank_kernel(tmp_path):
    """[-2] compiles one elementwise case; broadcast inputs are expanded for it."""
    json_path = _compile(tmp_path, [_desc([-2]), _desc([-2]), _desc([-2]), _desc([-2])],
                         "sum", "unknown_rank")
    assert len(json.loads(json_path.read_text())["cases"]) == 1
    _check(json_path, [(2, 3, 4), (3, 1), (2, 1, 4), (4,)], "sum")
    kernel = load_kernel(json_path)
    bad = [np.ones((2, 3), np.float16), np.ones((2, 4), np.float16), np.ones((2, 3), np.float16),
           np.ones((2, 3), np.float16), np.empty((2, 3), np.float16)]
    with pytest.raises(OpError, match="E80017.*should broadcast to the output shape"):
        kernel(bad)


def test_st_run_serves_a_dim_bound_to_one(tmp_path, capsys):
    """``bce-grad st run`` on the issue's case: x [-1, 16], range (1, 64), typical [1, 16]."""
    def desc(name, shape, typical, value_range, shape_range=None):
        entry = {"name": name, "format": "ND", "type": ["float16", "float"], "shape": shape,
                 "data_distribute": ["uniform"], "value_range": [value_range],
                 "typical_shape": [typical]}
        if shape_range:
            entry["shape_range"] = shape_range
        return entry

    case = {"case_name": "Test_BinaryCrossEntropyGrad_dim_bound_to_one",
            "op": OP_TYPE,
            "input_desc": [desc("x", [-1, 16], [1, 16], [0.05, 0.95], [[1, 64], [16, 16]]),
                           desc("y", [1, 16], [1, 16], [0.0, 1.0]),
                           desc("grad_output", [1, 16], [1, 16], [-2.0, 2.0]),
                           {"name": "weight", "format": "RESERVED", "type": ["float16", "float"],
                            "shape": []}],
            "output_desc": [{"name": "output", "format": "ND", "type": ["float16", "float"],
                             "shape": [-1, 16], "shape_range": [[1, 64], [16, 16]],
                             "typical_shape": [[1, 16]]}],
            "attr": [{"name": "reduction", "type": "string", "value": "mean"}],
            "calc_expect_func_file": "binary_cross_entropy_grad_golden.py:calc_expect_func"}
    from testcases.st import test_st_cases

    golden_file = test_st_cases.CASE_FILE.with_name("binary_cross_entropy_grad_golden.py")
    (tmp_path / golden_file.name).write_text(golden_file.read_text())
    case_json = tmp_path / "dim_one.json"
    case_json.write_text(json.dumps([case]))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["st", "run", "-i", str(case_json), "-soc", SOC, "-out", str(out)]) == 0, \
        capsys.readouterr().out
    report = test_st_cases.read_report(out)
    assert report["summary"]["failed count"] == 0 and len(report["report_list"]) == 2
