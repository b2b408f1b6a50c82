"""Measuring only: stages and their timer, grids, the reproduction run, convergence runs, the
race, the sparsification measurements, asv imports, the environment and the allocator policy.
Everything measured is written as :mod:`solvers.harness.records`; nothing here analyses or renders."""
