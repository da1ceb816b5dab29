"""Golden outputs of the model: every table and KPI of three scenarios x three seeds, and a 16-run sweep."""
