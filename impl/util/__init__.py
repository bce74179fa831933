"""Helpers shared by the operator implementations."""
