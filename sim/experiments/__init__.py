"""Many runs: paired comparisons, back tests, chokepoint knock-outs, sweeps, their store and analysis."""
