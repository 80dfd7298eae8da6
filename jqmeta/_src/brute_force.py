"""Exact maximum (and minimum) cut by vectorised brute force over ``2**(N-1)`` assignments.

Example:
  >>> import networkx as nx
  >>> from jqmeta import graphs
  >>> float(max_cut(graphs.from_networkx(nx.cycle_graph(5)), 2))
  4.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
from jax import lax

from jqmeta._src import cut

if TYPE_CHECKING:
  from jqmeta.graphs import Graph


def max_cut(graph: Graph, chunk_qubits: int, reduce=jnp.max) -> jax.Array:
  """Maximum cut weight; qubit 0 is fixed by the cut's symmetry ``cut(z) = cut(~z)``.

  The ``m = N - chunk_qubits`` high qubits are enumerated block by block under
  ``lax.map`` (half of their ``2**m`` states: qubit 0 = 0); each block evaluates all
  ``2**chunk_qubits`` low states at once (:func:`jqmeta._src.cut.cut_blocks`), so peak
  memory stays about ``2**chunk_qubits * N`` floats whatever ``N``.  Unchecked: the
  caller (:func:`jqmeta.qaoa.max_cut`) checks the graph and the memory budget.

  Args:
    graph: one ``Graph`` on ``N`` qubits.
    chunk_qubits: log2 of the states per block, ``<= N`` (static).
    reduce: ``jnp.max`` (the max cut) or ``jnp.min`` (the min cut, which is 0 on
      nonnegative weights but negative for mixed-sign couplings such as SK's).

  Returns:
    scalar float (the weights' dtype).
  """
  m = graph.n_qubits - chunk_qubits  # qubits enumerated block by block (hi part)
  W = cut.dense_weights(graph)
  if m == 0:
    return reduce(cut.cut_diagonal(graph))
  c_hi, c_lo, BhW, Bl = cut.cut_blocks(graph, W, m, rows=slice(0, 2**(m - 1)))

  def block(args):
    ch, bhw = args
    return reduce(ch + c_lo - 2.0 * (Bl @ bhw))

  return reduce(lax.map(block, (c_hi, BhW)))
