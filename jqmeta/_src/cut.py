"""The cut diagonal ``cut(z)``: dense weights, bit tables, the three cut tables, reductions.

``cut(z) = d.z - z^T W z`` for a basis state ``z`` (bits, qubit 0 the most significant),
``W`` the dense symmetric weight matrix and ``d`` the weighted degrees.  The simulator
never stores the ``2**N`` diagonal: :func:`cut_tables` splits it exactly into three
tables of at most ``2**(2N/3)`` entries whose broadcast sum (:func:`cut3`) is the
diagonal, and the energy reductions (:func:`marginals`, :func:`cut_weighted_sum`,
:func:`probs_energy`) contract against the tables.  :func:`adjoint_energy` gives the
simulator cores' energies their derivative rule (forward and reverse mode from one
adjoint gradient).

Example:
  >>> import networkx as nx
  >>> from jqmeta import graphs
  >>> g = graphs.from_networkx(nx.path_graph(2))
  >>> cut_diagonal(g).tolist()
  [0.0, 1.0, 1.0, 0.0]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

if TYPE_CHECKING:
  from jqmeta.graphs import Graph


def bits(k: int, dtype) -> jax.Array:
  """``(2**k, k)`` bits of every index, column j = qubit j (MSB first).

  Example:
    >>> bits(2, jnp.int32).tolist()
    [[0, 0], [0, 1], [1, 0], [1, 1]]
  """
  idx = np.arange(2**k, dtype=np.int64)[:, None]
  return jnp.asarray((idx >> np.arange(k - 1, -1, -1)) & 1, dtype)


def dense_weights(graph: Graph) -> jax.Array:
  """``(N, N)`` symmetric weight matrix (the weights' dtype); padding rows add 0."""
  return dense_from(graph.edges, graph.weights, graph.n_qubits)


def dense_from(edges: jax.Array, weights: jax.Array, N: int) -> jax.Array:
  """``(N, N)`` symmetric matrix of ``weights (E,)`` on ``edges (E, 2)`` (linear in them)."""
  u, v = edges[:, 0], edges[:, 1]
  W = jnp.zeros((N, N), weights.dtype)
  return W.at[u, v].add(weights).at[v, u].add(weights)


def cut_blocks(graph: Graph, W: jax.Array, m: int, rows: Optional[slice] = None):
  """Pieces of cut(z) for z = (hi, lo): hi = qubits [0, m), lo = qubits [m, N).

  ``cut(x) = d.x - x^T W x`` with ``d`` the weighted degrees, so
  ``cut[h, l] = c_hi[h] + c_lo[l] - 2 (B_hi W_hl B_lo^T)[h, l]``.

  Args:
    graph: one ``Graph`` on ``N`` qubits.
    W: ``(N, N)`` dense weights (:func:`dense_weights`).
    m: qubits in the hi part, ``0 < m < N``.
    rows: optional slice of the ``2**m`` hi states to keep.

  Returns:
    ``(c_hi (H,), c_lo (2**(N-m),), B_hi W_hl (H, N-m), B_lo (2**(N-m), N-m))`` in W's
    dtype, ``H`` the kept hi states.
  """
  N = graph.n_qubits
  dt = W.dtype
  d = W.sum(axis=1)
  Bh = bits(m, dt) if rows is None else bits(m, dt)[rows]
  Bl = bits(N - m, dt)
  Whh, Whl, Wll = W[:m, :m], W[:m, m:], W[m:, m:]
  c_hi = Bh @ d[:m] - jnp.sum((Bh @ Whh) * Bh, axis=1)
  c_lo = Bl @ d[m:] - jnp.sum((Bl @ Wll) * Bl, axis=1)
  return c_hi, c_lo, Bh @ Whl, Bl


def groups(N: int) -> tuple[int, int, int]:
  """Qubit groups A = [0, a), B = [a, a + b), C = the rest (as equal as possible).

  Example:
    >>> groups(10)
    (4, 3, 3)
  """
  a = (N + 2) // 3
  b = (N - a + 1) // 2
  return a, b, N - a - b


def cut_tables(W: jax.Array, N: int):
  """Three real tables whose broadcast sum is the cut diagonal.

  With qubits split into groups A, B, C (:func:`groups`) and ``z = (x, y, u)``,
  ``cut(z) = d.z - z^T W z`` splits exactly into
  ``T_ab[x, y] + T_ac[x, u] + T_bc[y, u]``: each group's own cut and the
  cross terms ``-2 x^T W_AB y`` etc.  Each table has at most ``2**(2N/3)`` entries,
  so a layer's phase ``exp(i gamma cut)`` costs three small cos/sin tables and two
  complex products per amplitude instead of one cos and one sin per amplitude
  (XLA:CPU evaluates cos and sin one element at a time).

  Args:
    W: ``(N, N)`` dense weights (:func:`dense_weights`).
    N: qubit count.

  Returns:
    ``(T_ab (2**a, 2**b), T_ac (2**a, 2**c), T_bc (2**b, 2**c))``, W's dtype.
  """
  ga, gb, _ = groups(N)
  dt = W.dtype
  d = W.sum(axis=1)
  sa, sb, sc = slice(0, ga), slice(ga, ga + gb), slice(ga + gb, N)
  Ba, Bb, Bc = bits(ga, dt), bits(gb, dt), bits(N - ga - gb, dt)

  def own(B, s):
    return B @ d[s] - jnp.sum((B @ W[s, s]) * B, axis=1)

  t_ab = own(Ba, sa)[:, None] + own(Bb, sb)[None, :] - 2.0 * (Ba @ W[sa, sb]) @ Bb.T
  t_ac = own(Bc, sc)[None, :] - 2.0 * (Ba @ W[sa, sc]) @ Bc.T
  t_bc = -2.0 * (Bb @ W[sb, sc]) @ Bc.T
  return t_ab, t_ac, t_bc


def materialize(tables):
  """``tables`` (a pytree of small real per-layer tables), computed once before their use.

  XLA:CPU fuses a small table's ``cos``/``sin`` into the state-sized elementwise pass that
  reads it, evaluating the transcendentals once per AMPLITUDE instead of once per table
  entry (``optimization_barrier`` does not stop it).  A layer ``scan`` boundary hid this
  for ``p >= 2``; at ``p = 1`` the loop is removed and in float64 (whose ``cos``/``sin``
  XLA:CPU does not vectorise) p = 1 ran slower than p = 3.  Each table is passed through
  ``max(x, -inf)`` computed as a ``reduce_window`` (bitwise the identity, NaN included),
  which XLA:CPU does not fuse into its consumers.  Other platforms get the tables
  unchanged (fusing there is cheap); the tangent passes straight through.

  Example:
    >>> materialize((jnp.arange(3.0),))[0].tolist()
    [0.0, 1.0, 2.0]
  """
  return jax.tree.map(_barrier, tables)


def _reduce_window_identity(x: jax.Array) -> jax.Array:
  """``x`` as ``max(x_i, -inf)`` over windows of an interleaved copy (XLA:CPU keeps it)."""
  low = jnp.array(-jnp.inf, x.dtype)
  z = jax.lax.pad(x.reshape(-1), low, [(0, 1, 1)])
  return jax.lax.reduce_window(z, low, jax.lax.max, (2,), (2,), "VALID").reshape(x.shape)


@jax.custom_jvp
def _barrier(x: jax.Array) -> jax.Array:
  return jax.lax.platform_dependent(x, cpu=_reduce_window_identity, default=lambda v: v)


@_barrier.defjvp
def _barrier_jvp(primals, tangents):
  return _barrier(primals[0]), tangents[0]


def cut3(T) -> jax.Array:
  """``(2**a, 2**b, 2**c)`` cut diagonal from the tables (fuses into its consumer)."""
  t_ab, t_ac, t_bc = T
  return t_ab[:, :, None] + t_ac[:, None, :] + t_bc[None, :, :]


def cut_diagonal(graph: Graph) -> jax.Array:
  """``(2**N,)`` cut weight of every basis state (the weights' dtype), unchecked."""
  return cut3(cut_tables(dense_weights(graph), graph.n_qubits)).reshape(-1)


def marginals(x: jax.Array):
  """The three 2-D marginals of a 3-D array, as dot products with ones.

  Dots, unlike reduces, are not merged by XLA's simplifier into one long float32
  accumulation chain, so every sum below is short (measured at n = 12: relative
  energy error 1e-6 -> 1e-7, and batched == unbatched to that level).

  Returns:
    ``(x summed over axis 2, over axis 1, over axis 0)``.
  """
  ones = [jnp.ones((d,), x.dtype) for d in x.shape]
  return (jnp.einsum("xyu,u->xy", x, ones[2]), jnp.einsum("xyu,y->xu", x, ones[1]),
          jnp.einsum("xyu,x->yu", x, ones[0]))


def cut_weighted_sum(x: jax.Array, T, m=None) -> jax.Array:
  """``sum(x * cut)`` for ``x`` shaped like the cut (``T``: the three cut tables).

  ``m``: :func:`marginals` of ``x`` if the caller already has them.
  """
  m = marginals(x) if m is None else m
  return sum(jnp.vdot(t.reshape(-1), mt.reshape(-1)) for t, mt in zip(T, m))


def cut_shape(T) -> tuple[int, int, int]:
  """``(2**a, 2**b, 2**c)``: the shape of :func:`cut3` of the tables ``T``."""
  return T[0].shape[0], T[0].shape[1], T[1].shape[1]


def probs_energy(probs: jax.Array, T) -> jax.Array:
  """``-sum(probs * cut) / sum(probs)`` for ``probs`` shaped like the cut."""
  # Dividing by the norm cancels the systematic drift of float32 cos^2 + sin^2 != 1
  # through the mixer rotations (measured: 2e-5 -> ~1e-6 absolute at |E| ~ 35, n = 13).
  m = marginals(probs)
  weighted = cut_weighted_sum(probs, T, m)
  return -weighted / jnp.vdot(m[0].reshape(-1), jnp.ones_like(m[0]).reshape(-1))


def adjoint_energy(primal: Callable, fwd: Callable, bwd: Callable) -> Callable:
  """A scalar energy ``primal(angles, T, real)`` differentiated by its adjoint gradient.

  The result is a ``jax.custom_jvp``: its JVP rule evaluates the energy and the exact
  gradient ``(g_angles, g_T)`` once (``fwd`` then ``bwd`` with cotangent 1) and returns
  the tangent ``<g_angles, t_angles> + sum_i <g_T_i, t_T_i>``: the energy is a scalar,
  so its JVP is a dot product with the gradient.  That map is linear in the tangents,
  so JAX transposes it for reverse mode (``grad`` costs one ``fwd`` and one ``bwd``,
  as a ``custom_vjp`` would), and ``jvp``/``jacfwd`` work too.  ``fwd`` and ``bwd`` are
  plain JAX code, so the rule itself is differentiable (``hessian``, ``jacrev`` of
  ``jacrev``).

  Args:
    primal: ``(angles (2, p), T (three tables), real (N,) bool) -> scalar``.
    fwd: same arguments ``-> (energy, residuals)``.
    bwd: ``(residuals, cotangent) -> (g_angles, g_T, None)``.

  Returns:
    The differentiable energy function (``primal``'s signature and docstring).

  Example:
    >>> e = lambda a, T, r: jnp.sum(a**2) + jnp.sum(T[0])
    >>> fwd = lambda a, T, r: (e(a, T, r), (a, T))
    >>> bwd = lambda res, e_bar: (2 * e_bar * res[0], (e_bar * jnp.ones_like(res[1][0]),
    ...                                                0 * res[1][1], 0 * res[1][2]), None)
    >>> f = adjoint_energy(e, fwd, bwd)
    >>> T = (jnp.zeros((2, 2)),) * 3
    >>> float(jax.jvp(lambda a: f(a, T, None), (jnp.ones((2, 1)),), (jnp.ones((2, 1)),))[1])
    4.0
    >>> float(jax.hessian(lambda a: f(a, T, None))(jnp.ones((2, 1)))[1, 0, 1, 0])
    2.0
  """
  energy = jax.custom_jvp(primal)

  def jvp(primals, tangents):
    angles, T, real = primals
    t_angles, t_T, _ = tangents
    e, res = fwd(angles, T, real)
    g_angles, g_T, _ = bwd(res, jnp.ones((), e.dtype))
    # Symbolic-zero tangents (inputs not differentiated) add no term, so XLA drops the
    # parts of ``bwd`` only they would use, as it did for the unused custom_vjp outputs.
    pairs = [(g_angles, t_angles)] + list(zip(g_T, t_T))
    dot = sum((jnp.vdot(g, t) for g, t in pairs if not isinstance(t, SymbolicZero)),
              jnp.zeros((), e.dtype))
    return e, dot.astype(e.dtype)

  energy.defjvp(jvp, symbolic_zeros=True)
  return energy
