"""``op_test_frame.ut``: the UT classes of the host op_test_frame."""
from bce_grad.tools.ut_frame.ut.op_ut import BroadcastOpUT, ElementwiseOpUT, OpUT, ReduceOpUT

__all__ = ["OpUT", "BroadcastOpUT", "ElementwiseOpUT", "ReduceOpUT"]
