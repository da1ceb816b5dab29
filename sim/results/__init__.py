"""A run's records -> tidy tables and KPIs, and the RunResult that carries them."""
