"""The SimPy engine: one run of one scenario (the world's state, the mechanisms, the compliance check)."""
