"""SimPy processes: each module models one real mechanism and appends rows to the recorder."""
