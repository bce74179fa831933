"""Dynamic-shape entries of the operators (FE loads them from impl/dynamic/)."""
