"""``tbe.dsl.var`` / ``compute()``: declared vars belong to one compile, never to the process."""
from __future__ import annotations

import threading

from tvm import te

from bce_grad.host_backend.dsl import context
from bce_grad.host_backend.op_context import OpContext


def test_a_declared_var_is_known_only_inside_its_compile():
    with OpContext("dynamic"):
        with context.compute() as record:
            cof = context.var("cof", dtype="float32")
        assert record["vars"] == [cof]
        assert context.is_declared(cof)
        assert not context.is_declared(te.var("cof", dtype="float32"))  # same name, not declared
    assert not context.is_declared(cof)  # the compile is over
    with OpContext("dynamic"):
        assert not context.is_declared(cof)  # a later compile starts empty


def test_threads_compiling_at_once_do_not_see_each_others_vars():
    seen: dict[str, bool] = {}
    declared = threading.Event()
    checked = threading.Event()

    def first():
        with OpContext("dynamic"):
            seen["var"] = context.var("cof", dtype="float32")
            declared.set()
            checked.wait(30)

    def second():
        declared.wait(30)
        with OpContext("dynamic"):
            seen["other"] = context.is_declared(seen["var"])
        checked.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen["other"] is False


def test_nested_compute_contexts_record_their_own_vars():
    with OpContext("dynamic"):
        with context.compute() as outer:
            a = context.var("a")
            with context.compute() as inner:
                b = context.var("b")
            c = context.var("c")
    assert [v.name for v in outer["vars"]] == [a.name, c.name]
    assert [v.name for v in inner["vars"]] == [b.name]
