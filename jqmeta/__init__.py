"""jqmeta: JAX-native meta-learned QAOA.

Modules (one concept each): ``graphs`` (padded Max-Cut graphs), ``qaoa`` (exact
statevector and analytic p=1 energies), ``circuits`` (small gate circuits),
``kernels`` (quantum fidelity kernels), ``models`` (the four learned optimizers as
Flax cells), ``meta`` (Phase I unroll and meta-losses), ``train``, ``evaluate``,
``interop`` (published checkpoints and datasets), ``parallel`` and ``cli``.
"""
from jqmeta import circuits
from jqmeta import graphs
from jqmeta import interop
from jqmeta import kernels
from jqmeta import meta
from jqmeta import models
from jqmeta import qaoa
from jqmeta.graphs import Graph, from_networkx, stack
from jqmeta.interop import load_dataset, load_reference_checkpoint, load_reference_dataset
from jqmeta.meta import phase1
from jqmeta.models import count_params, create
from jqmeta.qaoa import (analytic_p1_energy, approximation_ratio, energy, expected_cut,
                         max_cut, state)

__version__ = "0.1.0"

__all__ = [
    "circuits", "graphs", "interop", "kernels", "meta", "models", "qaoa",
    "Graph", "from_networkx", "stack",
    "energy", "expected_cut", "state", "max_cut", "approximation_ratio",
    "analytic_p1_energy",
    "create", "count_params", "phase1",
    "load_dataset", "load_reference_dataset", "load_reference_checkpoint",
]
