"""Benchmark parts of ``bce-grad bench``: the roofline kernel, child runs, records, crossover, device check."""
