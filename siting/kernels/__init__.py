"""Numba kernels of the siting solvers, one module per model over one shared CSR pattern type."""
