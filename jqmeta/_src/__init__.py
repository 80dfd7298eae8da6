"""jqmeta's private implementation modules (the internal API).

Users import :mod:`jqmeta` and its public modules; tests and benchmarks may also import
these modules, whose names are kept stable.  Layering (an import only goes down):

* ``validation``, ``fileio``, ``memory``, ``precision``: no other jqmeta import
  (``validation`` reads :class:`jqmeta.graphs.Graph` for type checks);
* ``cut``, ``kron_core``, ``wht_core``, ``statevector``, ``analytic``, ``brute_force``:
  the exact simulator behind :mod:`jqmeta.qaoa`; no flax, no optax;
* ``precision``, ``gates``: float32 arithmetic emulated in float64 (the published
  precision), and the small gate-circuit simulator behind :mod:`jqmeta.circuits` and
  :mod:`jqmeta.kernels`;
* ``torch_compat``, ``checkpoint``, ``epoch``: PyTorch-semantics optimizer pieces, the
  training checkpoint format, and one jitted epoch with its bookkeeping, behind
  :mod:`jqmeta.training`;
* ``distributed``: multi-process runs behind :mod:`jqmeta.parallel`;
* ``datasets``, ``published``: the graph-dataset formats and the published PyTorch
  checkpoints behind :mod:`jqmeta.io`;
* ``legacy``: old public names (before the 0.2 layout) and where they live now.
"""
