"""jqmeta: JAX-native meta-learned QAOA.

Modules (one concept each): ``graphs`` (padded Max-Cut graphs), ``qaoa`` (exact
statevector and analytic p=1 energies), ``circuits`` (small gate circuits),
``kernels`` (quantum fidelity kernels), ``models`` (the four learned optimizers as
Flax cells), ``meta`` (Phase I unroll and meta-losses), ``train``, ``evaluate``,
``interop`` (published checkpoints and datasets), ``parallel`` and ``cli``.
"""
from jqmeta import graphs
from jqmeta import qaoa
from jqmeta.graphs import Graph, from_networkx, stack
from jqmeta.qaoa import (analytic_p1_energy, approximation_ratio, energy, expected_cut,
                         max_cut, state)

__version__ = "0.1.0"

__all__ = [
    "graphs", "qaoa",
    "Graph", "from_networkx", "stack",
    "energy", "expected_cut", "state", "max_cut", "approximation_ratio",
    "analytic_p1_energy",
]
