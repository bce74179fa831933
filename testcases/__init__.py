"""Test cases of the operator: UT and ST case data, the golden, and pytest suites."""
