"""Phase II: gradient-descent refinement from a proposal, with the published stop rule.

The test protocol (Lin, Hsu, Chen 2025; ``shared/reference/README.md``): from the angles
a model proposes at its last recurrent step (or from a random start), plain gradient
descent ``a <- a - lr * grad E(a)`` with ``lr = 1e-3``, at most 300 updates, stopping
when ``|C_k - C_{k-1}| <= 1e-6`` (:func:`phase2_sgd`).  :func:`combined_curve` joins a
Phase I cost history and a Phase II one into the cost per total step.

Angles are ``(2, p)`` (row 0 gammas, row 1 betas) and costs are energies ``<H_C>``
(negative is better).  :func:`phase2_sgd` handles ONE graph and is pure, jittable and
vmappable over ``(angles, graph)`` batches.  Two more local refinements, used by the
searches of :mod:`jqmeta.baselines`, live here too (not exported): Adam keeping the
best point seen (``descend_best``) and safeguarded Newton steps (``newton_polish``).

Example:
  >>> import jax.numpy as jnp, networkx as nx
  >>> from jqmeta import graphs, phase2
  >>> g = graphs.from_networkx(nx.cycle_graph(4))
  >>> res = phase2.phase2_sgd(jnp.array([[0.3], [0.2]]), g, lr=0.05, steps=50, tol=1e-4)
  >>> res.costs.shape, bool(res.costs[-1] < res.costs[0])
  ((51,), True)
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jqmeta import qaoa
from jqmeta._src import legacy, validation
from jqmeta.graphs import Graph

__all__ = [
    "Phase2Result",
    "phase2_sgd",
    "combined_curve",
    "PHASE2_LR",
    "PHASE2_STEPS",
    "PHASE2_TOL",
]

PHASE2_LR = 1e-3
"""Published Phase II SGD learning rate."""
PHASE2_STEPS = 300
"""Published Phase II cap on the number of updates."""
PHASE2_TOL = 1e-6
"""Published Phase II stop rule: ``|C_k - C_{k-1}| <= 1e-6`` (absolute, on the energy;
meaningful in float64 only, see :func:`phase2_sgd`)."""

class Phase2Result(NamedTuple):
  """Phase II trajectory of one graph (fields gain a leading axis under ``vmap``).

  Attributes:
    costs: ``(steps + 1,)`` float; ``costs[0]`` is the cost of the starting angles,
      ``costs[k]`` the cost after ``k`` updates; after convergence the entries hold the
      final value.  (The published CSV histories list the starting cost twice; this
      one lists it once.)
    angles: ``(steps + 1, 2, p)`` float, same indexing and holding rule.
    n_steps: ``() int32``, SGD updates actually taken (``<= steps``).
    converged: ``() bool``, whether the stop rule fired (possibly at update
      ``steps`` itself).

  ``costs`` and ``angles`` have the starting angles' dtype (float32, or float64 for
  float64 angles with x64 enabled).

  Example:
    >>> import networkx as nx
    >>> from jqmeta.graphs import from_networkx
    >>> r = jax.eval_shape(lambda a: phase2_sgd(a, from_networkx(nx.path_graph(3)), steps=5),
    ...                    jnp.zeros((2, 1)))  # shapes and dtypes only; nothing is computed
    >>> r.costs.shape, r.angles.shape, r.n_steps.dtype, r.converged.dtype
    ((6,), (6, 2, 1), dtype('int32'), dtype('bool'))
  """

  costs: jax.Array
  angles: jax.Array
  n_steps: jax.Array
  converged: jax.Array

  @property
  def n_iter(self) -> jax.Array:
    """Deprecated name of :attr:`n_steps`."""
    return self.n_steps


class _SGDState(NamedTuple):
  angles: jax.Array  # (2, p)
  cost: jax.Array  # ()   cost at `angles`
  grad: jax.Array  # (2, p) gradient at `angles`
  done: jax.Array  # () bool
  n_steps: jax.Array  # () int32


@legacy.renamed_kwargs(max_iter="steps")
def phase2_sgd(angles0, graph: Graph, *, lr=PHASE2_LR, steps: int = PHASE2_STEPS,
               tol=PHASE2_TOL, method: str = "statevector",
               memory_limit_bytes: Optional[int] = None) -> Phase2Result:
  """Phase II: plain gradient descent on one graph with the published stop rule.

  Update ``a_k = a_{k-1} - lr * grad E(a_{k-1})``; stop after update ``k`` when
  ``|C_k - C_{k-1}| <= tol`` (``C_0`` the starting cost).  Runs as a ``lax.scan`` of
  ``steps`` steps with a ``done`` mask (the update is skipped by ``lax.cond`` once
  done; under ``vmap`` both branches run), so shapes are fixed, it is jittable and
  vmappable over ``(angles0, graph)`` batches from :func:`jqmeta.graphs.stack`.  Each
  step costs one energy+gradient evaluation.

  Precision: run the published protocol in float64 (``jax.enable_x64`` and float64
  angles).  Energies of 10 to 20 have a float32 spacing of about 1e-6, so in float32
  the ``1e-6`` stop rule fires 20 to 40 updates early on the n = 10 test graphs; in
  float64 ``costs[k]`` matches the published history (``QAOA after QK``, row ``k + 1``)
  to 2e-7 and ``n_steps`` is identical.

  Args:
    angles0: ``(2, p)`` float starting angles (row 0 gammas, row 1 betas).  The
      trajectory's dtype follows them (float64 needs x64 enabled).
    graph: one ``Graph``.
    lr: learning rate ``> 0`` (may be traced).
    steps: maximum number of updates, ``>= 1`` (static).
    tol: stop tolerance ``>= 0`` on the absolute cost change (may be traced).
    method: energy method for :func:`jqmeta.qaoa.energy` (static).
    memory_limit_bytes: optional byte budget for the one statevector (see
      :func:`jqmeta.qaoa.memory_limit`); batches are sized by
      :func:`jqmeta.evaluation.evaluate_method`.

  Returns:
    A :class:`Phase2Result`.

  Raises:
    TypeError / ValueError: bad angles, graph, ``lr``, ``tol``, ``steps`` or method.

  Example:
    >>> import jax.numpy as jnp, networkx as nx
    >>> from jqmeta import graphs
    >>> g = graphs.from_networkx(nx.cycle_graph(4))
    >>> r = phase2_sgd(jnp.array([[0.3], [0.2]]), g, lr=0.1, steps=200, tol=1e-5)
    >>> bool(r.converged), r.angles.shape
    (True, (201, 2, 1))
  """
  angles0 = validation.check_angles(angles0)
  validation.check_graph(graph)
  steps = validation.check_int("steps", steps, 1)
  validation.check_real("lr", lr, low=0.0, low_open=True, traced_ok=True)
  validation.check_real("tol", tol, low=0.0, traced_ok=True)
  validation.check_method(method)
  dtype = angles0.dtype
  lr = jnp.asarray(lr, dtype)
  tol = jnp.asarray(tol, dtype)
  value_and_grad = jax.value_and_grad(
      lambda a: qaoa.energy(a, graph, method=method,
                            memory_limit_bytes=memory_limit_bytes).astype(dtype))

  def update(s: _SGDState) -> _SGDState:
    a = s.angles - lr * s.grad
    cost, grad = value_and_grad(a)
    return _SGDState(a, cost, grad, jnp.abs(cost - s.cost) <= tol, s.n_steps + 1)

  def step(s: _SGDState, _):
    s = lax.cond(s.done, lambda s: s, update, s)
    return s, (s.cost, s.angles)

  cost0, grad0 = value_and_grad(angles0)
  init = _SGDState(angles0, cost0, grad0, jnp.zeros((), bool), jnp.zeros((), jnp.int32))
  final, (costs, angles) = lax.scan(step, init, None, length=steps)
  return Phase2Result(
      costs=jnp.concatenate([cost0[None], costs]),
      angles=jnp.concatenate([angles0[None], angles]),
      n_steps=final.n_steps,
      converged=final.done,
  )


def combined_curve(phase1_costs, phase2: Phase2Result) -> jax.Array:
  """Cost per total step: Phase I steps ``1..T1`` then Phase II updates ``1..steps``.

  ``phase2`` is assumed to start from the last Phase I angles, so its ``costs[0]``
  repeats ``phase1_costs[-1]`` and is dropped.  Works on one graph (``(T1,)``) or a
  batch (``(G, T1)`` with a vmapped result).

  Args:
    phase1_costs: ``(..., T1)`` Phase I costs.
    phase2: a :class:`Phase2Result` with ``costs`` ``(..., steps + 1)``.

  Returns:
    ``(..., T1 + steps)``: feed its relative error to :func:`jqmeta.metrics.mean_curve`
    and :func:`jqmeta.metrics.iterations_to_convergence` (``first_step=1``).

  Example:
    >>> import jax.numpy as jnp
    >>> r = Phase2Result(jnp.array([-3.0, -3.5, -3.5]), jnp.zeros((3, 2, 1)),
    ...                  jnp.array(1), jnp.array(True))
    >>> combined_curve(jnp.array([-1.0, -3.0]), r).tolist()
    [-1.0, -3.0, -3.5, -3.5]
  """
  if not isinstance(phase2, Phase2Result):
    raise TypeError(f"phase2 must be a Phase2Result, got {type(phase2).__name__}")
  p1 = jnp.asarray(phase1_costs)
  p2 = jnp.asarray(phase2.costs)
  if p1.ndim < 1 or p1.shape[:-1] != p2.shape[:-1]:
    raise ValueError(f"phase1_costs {p1.shape} and phase2.costs {p2.shape} must share their "
                     "leading (batch) axes and have a step axis last")
  return jnp.concatenate([p1, p2[..., 1:].astype(jnp.result_type(p1, p2))], axis=-1)


def descend_best(loss, a0, steps: int, lr) -> tuple[jax.Array, jax.Array]:
  """``steps`` Adam updates (cosine-decayed ``lr``) on ``loss``, keeping the best point seen.

  Args:
    loss: scalar function of an array shaped like ``a0`` (jittable, differentiable).
    a0: the start, e.g. ``(2, p)`` float angles.
    steps: Adam updates ``>= 0`` (static; 0 returns ``a0``).
    lr: peak learning rate (may be traced).

  Returns:
    ``(a, loss(a))``: the best point seen (the start included) and its loss.

  Example:
    >>> a, l = descend_best(lambda x: jnp.sum((x - 1.0) ** 2), jnp.zeros(2), 200, 0.1)
    >>> bool(l < 1e-4)
    True
  """
  opt = optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1)))
  value_and_grad = jax.value_and_grad(loss)

  def step(carry, _):
    a, state, best_a, best_l = carry
    l, g = value_and_grad(a)
    better = l < best_l
    best_a = jnp.where(better, a, best_a)
    best_l = jnp.where(better, l, best_l)
    upd, state = opt.update(g, state, a)
    return (optax.apply_updates(a, upd), state, best_a, best_l), None

  inf = jnp.asarray(jnp.inf, a0.dtype)
  (a, _, best_a, best_l), _ = lax.scan(step, (a0, opt.init(a0), a0, inf), None, length=steps)
  l = loss(a)
  better = l < best_l
  return jnp.where(better, a, best_a), jnp.where(better, l, best_l)


def newton_polish(loss, a, steps: int) -> tuple[jax.Array, jax.Array]:
  """``steps`` safeguarded Newton steps on ``loss`` from ``a``, never worse than ``a``.

  Gradient and Hessian (central differences of the exact gradient, step
  ``eps**(1/3)``) come from one vmapped gradient at ``a`` and ``a +- h e_j``; a step is
  kept only where the Hessian is positive definite (finite Cholesky factor) and the
  loss does not rise.  Meant for a few unknowns (the ``2 p`` QAOA angles).

  Args:
    loss: scalar function of an array shaped like ``a`` (jittable, differentiable).
    a: the start (float; float64 polishes to about 1e-8 in the argument).
    steps: Newton steps ``>= 0`` (static).

  Returns:
    ``(a, loss(a))`` after the steps.

  Example:
    >>> f = lambda x: jnp.sum(jnp.cosh(x - 0.5))
    >>> a, l = newton_polish(f, jnp.zeros(2), 4)
    >>> [round(float(v), 4) for v in a], round(float(l), 4)
    ([0.5, 0.5], 2.0)
  """
  n = a.size
  h = jnp.finfo(a.dtype).eps ** (1 / 3)
  basis = jnp.eye(n, dtype=a.dtype).reshape((n,) + a.shape) * h
  grads = jax.vmap(jax.grad(loss))

  def step(carry, _):
    x, fx = carry
    g = grads(jnp.concatenate([x[None], x + basis, x - basis])).reshape(2 * n + 1, n)
    hess = (g[1:n + 1] - g[n + 1:]) / (2 * h)
    hess = (hess + hess.T) / 2
    chol = jnp.linalg.cholesky(hess)  # NaN unless positive definite
    new = x - jax.scipy.linalg.cho_solve((chol, True), g[0]).reshape(x.shape)
    f_new = loss(new)
    ok = jnp.all(jnp.isfinite(new)) & jnp.isfinite(f_new) & (f_new <= fx)
    return (jnp.where(ok, new, x), jnp.where(ok, f_new, fx)), None

  (a, fa), _ = lax.scan(step, (a, loss(a)), None, length=steps)
  return a, fa
