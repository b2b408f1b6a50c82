"""Airspeed Velocity suites: one module per stage family (see README, "Benchmarks")."""
