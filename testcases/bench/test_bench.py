"""``bce-grad bench``: the records' schema, a roofline that is really measured, crossover mode.

Timings are never asserted (the machine is shared); what is checked is that every row
exists, is typed, and is computed from the same run: ratios against the roofline of the
same dtype, shapes, weight and threads, and the roofline's bytes equal to the op's.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from bce_grad.host_backend.errors import OpError
from bce_grad.tools.bench import records as rec
from bce_grad.tools.bench.crossover import crossover
from bce_grad.tools.bench.roofline import Roofline, collapse
from bce_grad.tools.cli import main

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed: the "
                                "roofline kernel cannot be built")
FIELDS = {"impl": str, "dtype": str, "shape": list, "shapes": dict, "reduction": str,
          "weight": bool, "threads": int, "repeats": int, "median_ms": float, "spread": list,
          "bytes": int, "gbps": float}
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def _op_bytes(record: dict) -> int:
    sizes = [math.prod(s) for s in record["shapes"].values()] + [math.prod(record["shape"])]
    return ITEMSIZE[record["dtype"]] * sum(sizes)


@pytest.fixture(scope="module")
def quick_records(tmp_path_factory):
    report = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["bench", "--quick", "--threads", "1,2", "--json", str(report)]) == 0
    return json.loads(report.read_text())


def test_quick_json_has_every_row_typed(quick_records):
    assert {r["impl"] for r in quick_records} == set(rec.IMPLS)
    for threads in (1, 2):
        impls = {r["impl"] for r in quick_records if r["threads"] == threads}
        assert impls >= {"roofline", "host_kernel", "host_api", "host_api_out", "torch"}
    for record in quick_records:
        for field, kind in FIELDS.items():
            assert isinstance(record[field], kind), (field, record)
        assert record["dtype"] == "float32" and record["shapes"]["x"] == record["shape"]
        assert record["median_ms"] > 0 and record["gbps"] > 0
        assert record["spread"][0] <= record["median_ms"] <= record["spread"][1]
        assert record["reduction"] == ("-" if record["impl"] == "roofline" else "mean")
        assert record["bytes"] == _op_bytes(record)


def test_ratios_are_against_the_roofline_of_the_same_run(quick_records):
    import statistics

    for record in quick_records:
        roof = [r for r in quick_records if r["impl"] == "roofline" and r["dtype"] == record["dtype"]
                and r["shapes"] == record["shapes"] and r["threads"] == record["threads"]
                and r["weight"] == record["weight"]]
        assert len(roof) == 1
        if record["impl"] in ("roofline", "numpy"):  # not paired: against the roofline row
            assert "pair_ratios" not in record
            assert record["ratio_to_roofline"] == pytest.approx(
                record["gbps"] / roof[0]["gbps"], rel=1e-3, abs=1e-6)
            continue
        ratios = record["pair_ratios"]  # paired sample by sample with the roofline
        assert len(ratios) == record["repeats"] and all(r > 0 for r in ratios)
        assert record["roofline_ms"] > 0
        assert record["ratio_to_roofline"] == pytest.approx(statistics.median(ratios), abs=1e-6)


def test_paired_samples_alternate_with_the_reference(monkeypatch):
    """Each sample of the call is timed right after one of the reference: on a clock where the
    reference takes 3 ms and the call 2 ms, every pair's ratio is exactly 1.5, and the calls
    alternate after the warm-up."""
    clock, order = [0.0], []
    monkeypatch.setattr(rec.time, "perf_counter", lambda: clock[0])

    def timed(name, seconds):
        def call():
            order.append(name)
            clock[0] += seconds
        return call

    timing, ratios, reference_ms = rec.measure_paired(timed("call", 0.002), timed("ref", 0.003), 5)
    assert ratios == pytest.approx([1.5] * 5)
    assert timing[0] == pytest.approx(2.0) and reference_ms == pytest.approx(3.0)
    timed_part = order[-10:]
    assert timed_part == ["ref", "call"] * 5


def test_table_names_machine_and_reference(quick_records, capsys):
    info = rec.machine()
    rec.print_table(quick_records, info, "the reference")
    out = capsys.readouterr().out
    assert "machine:" in out and "LLVM cpu" in out and "L3" in out and "reference:" in out
    assert all(impl in out for impl in rec.IMPLS)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shapes", [
    {"x": (33, 70), "y": (33, 70), "grad_output": (33, 70)},
    {"x": (1000, 3), "y": (1000, 3), "grad_output": (1000, 1), "weight": (3,)},
    # short rows across tiles: values per row spread 16 wide, and one past the spread
    {"x": (3001, 3), "y": (3001, 1), "grad_output": (3001, 1), "weight": (3001, 3)},
    {"x": (700, 17), "y": (700, 17), "grad_output": (700, 1)},
    {"x": (3001, 3), "y": (3001, 3), "grad_output": (1, 1), "weight": (3001, 1)},
    {"x": (2, 20000), "y": (1, 20000), "grad_output": (2, 1)},
    {"x": (4, 5, 6), "y": (4, 1, 6), "grad_output": (1, 5, 1), "weight": (4, 5, 6)},
    {"x": (), "y": (), "grad_output": ()},
])
def test_roofline_kernel_matches_numpy(dtype, shapes):
    rng = np.random.default_rng(1)
    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    arrays = {n: rng.uniform(0, 1, s).astype(np_dtype) for n, s in shapes.items()}
    for threads in (1, 2):
        roof = Roofline(arrays, threads)
        out = roof()
        if dtype == "float32":
            want = arrays["x"] + arrays["y"] + arrays["grad_output"]
            want = want + arrays["weight"] if "weight" in arrays else want
        else:
            bits = [a.view(np.uint16) for a in arrays.values()]
            want = sum(bits[1:], bits[0].copy()).astype(np.uint16).view(np_dtype)
        assert out.shape == arrays["x"].shape and out.dtype == arrays["x"].dtype
        assert out.tobytes() == np.asarray(want).tobytes()
        assert roof.nbytes == sum(a.nbytes for a in arrays.values()) + out.nbytes


def test_collapse_merges_dims_of_one_pattern():
    assert collapse([(4, 5, 6), (4, 5, 6), (4, 5, 1)]) == ([20, 6], [[6, 1], [6, 1], [1, 0]])
    assert collapse([(2, 1, 7), (7,), (2, 1, 1)]) == ([2, 7], [[7, 1], [0, 1], [1, 0]])
    assert collapse([(), (), ()]) == ([1], [[1], [1], [1]])


def test_missing_compiler_is_named(monkeypatch):
    monkeypatch.setenv("CC", "no-such-cc-for-bce-grad")
    with pytest.raises(OpError, match=r"CC.*no-such-cc-for-bce-grad|no-such-cc-for-bce-grad.*CC"):
        Roofline({n: np.ones(4, np.float32) for n in ("x", "y", "grad_output")}, 1)


def test_crossover_mode_runs_on_tiny_sizes(tmp_path, capsys):
    report = tmp_path / "cross.json"
    assert main(["bench", "--crossover", "--quick", "--threads", "1,2", "--json", str(report)]) == 0
    records = json.loads(report.read_text())
    sizes = sorted({r["elements"] for r in records})
    assert sizes == [16, 64, 256, 1024]
    assert {(r["impl"], r["threads"]) for r in records} == {
        (i, t) for i in ("host_kernel", "roofline") for t in (1, 2)}
    assert all(r["median_ms"] > 0 for r in records)
    out = capsys.readouterr().out
    assert "elements" in out and "beat" in out and "load average" in out


def test_crossover_is_where_more_threads_win_from_then_on():
    def rows(times):
        return [{"impl": "host_kernel", "threads": t, "elements": n, "median_ms": ms}
                for (t, n), ms in times.items()]

    times = {(1, 16): 1, (2, 16): 2, (1, 64): 2, (2, 64): 1, (1, 256): 1, (2, 256): 3,
             (1, 1024): 5, (2, 1024): 3, (1, 4096): 9, (2, 4096): 5}
    assert crossover(rows(times), "host_kernel", 1, 2) == 1024
    assert crossover(rows({(1, 16): 1, (2, 16): 2}), "host_kernel", 1, 2) is None


def test_bench_options_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--threads", "0"])
    assert "threads" in capsys.readouterr().err


def test_torch_row_takes_broadcast_inputs():
    """aten refuses inputs of another size (the default run's broadcast shapes stopped the whole
    bench): the torch row passes them expanded to x's size, and computes the op's result."""
    torch = pytest.importorskip("torch")
    from bce_grad.golden import binary_cross_entropy_grad_golden as golden
    from bce_grad.tools.bench.child import torch_call

    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 0.9, (5, 3)).astype(np.float32)
    arrays = {"x": x, "y": rng.uniform(0, 1, (5, 3)).astype(np.float32),
              "grad_output": rng.standard_normal((5, 1)).astype(np.float32),
              "weight": rng.uniform(0.5, 2, (3,)).astype(np.float32)}
    got = torch_call(arrays, "mean", 1)().numpy()
    want = golden(x=x, y=arrays["y"], grad_output=arrays["grad_output"], weight=arrays["weight"], reduction="mean")
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert isinstance(got, np.ndarray) and torch.get_num_threads() == 1


def test_summary_ranges_each_rows_ratios_from_the_json(quick_records, tmp_path, capsys):
    """`--summary` reads a --json file: one line per (shapes, dtype, threads) whose cells are the
    min-max of that row's ratios, as recorded (nothing re-measured); a bad file is E80000."""
    from bce_grad.tools.bench.summary import summary_lines
    from bce_grad.tools.cli import main

    report = tmp_path / "bench.json"
    report.write_text(json.dumps(quick_records))
    assert main(["bench", "--summary", str(report)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == summary_lines(quick_records)
    assert lines[0].startswith("| x shape (other inputs) | dtype | threads | roofline GB/s | "
                               "host_kernel | host_api | host_api_out | torch | numpy |")
    threads = sorted({r["threads"] for r in quick_records})
    assert len(lines) == 2 + len(threads)
    one = next(line for line in lines[2:] if line.split(" | ")[2] == "1")
    kernel = [r["ratio_to_roofline"] for r in quick_records
              if r["impl"] == "host_kernel" and r["threads"] == 1]
    assert f"{min(kernel):.0%}" in one.split(" | ")[4]
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["bench", "--summary", str(tmp_path / "bad.json")]) == 2
    assert "[E80000] the parameter[--summary] should name a file" in capsys.readouterr().err


@pytest.mark.parametrize("mode, paired", [("table", True), ("crossover", False)])
def test_table_children_do_not_spin_between_paired_samples(mode, paired, monkeypatch, tmp_path):
    """A table run's child gets passive OpenMP and TVM thread pools (paired rows alternate two
    pools); a crossover child keeps the spinning defaults users get."""
    from bce_grad.tools.commands import bench as command

    seen = {}

    def fake_run(argv, env, check):
        seen.update(env)
        plan = json.loads(Path(argv[-1]).read_text())
        Path(plan["out"]).write_text("[]")
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(command.subprocess, "run", fake_run)
    assert command._run_child({"threads": 2, "mode": mode}, tmp_path) == []
    assert seen["TVM_NUM_THREADS"] == "2"
    for name, value in command.PAIRED_ENV.items():
        assert (seen.get(name) == value) is paired
