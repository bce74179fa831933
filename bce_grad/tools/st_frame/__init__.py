"""A host msopst: run ST case JSON files (msopst's format) on the host backend."""
