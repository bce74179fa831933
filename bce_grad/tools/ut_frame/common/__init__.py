"""``op_test_frame.common``: precision standards and data generation."""
