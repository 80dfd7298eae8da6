"""Tests for jqmeta.kernels: the genuine fidelity kernel of the corrected QK-LSTM."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest

from jqmeta import circuits, kernels

try:  # jax < 0.7 spelling; newer jax has the context manager at jax.enable_x64(True)
  from jax.experimental import enable_x64
except ImportError:
  def enable_x64():
    return jax.enable_x64(True)

ATOL = 1e-6
SIZES = [1, 2, 3, 4, 5]


def _pl_u(x, n):
  """The feature-map unitary U(x) as PennyLane ops."""
  for i in range(n):
    qml.Hadamard(wires=i)
  for i in range(n):
    qml.RZ(x[i], wires=i)
  for i in range(n):
    qml.RY(x[i], wires=i)
  for i in range(n - 1):
    qml.CNOT(wires=[i, i + 1])
  for i in range(n):
    qml.RZ(x[i], wires=i)


def _pl_kernel(x, x_ref):
  n = len(x)
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev)
  def circuit():
    _pl_u(x, n)
    qml.adjoint(_pl_u)(x_ref, n)
    return qml.probs(wires=range(n))

  return float(circuit()[0])


def _pl_feature_state(x):
  n = len(x)

  @qml.qnode(qml.device("default.qubit", wires=n))
  def circuit():
    _pl_u(x, n)
    return qml.state()

  return np.asarray(circuit())


def _pair(n, seed):
  rng = np.random.default_rng(seed)
  return (rng.uniform(-np.pi, np.pi, n).astype(np.float32),
          rng.uniform(-np.pi, np.pi, n).astype(np.float32))


# --------------------------------------------------------------------------- #
# Kernel values
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n", SIZES)
def test_feature_map_matches_pennylane_state(n):
  x, _ = _pair(n, 10 + n)
  s = kernels.feature_map(jnp.asarray(x))
  assert s.shape == (2**n,) and s.dtype == jnp.complex64
  np.testing.assert_allclose(np.asarray(s), _pl_feature_state(x.astype(np.float64)),
                             atol=ATOL, rtol=0)


@pytest.mark.parametrize("n", SIZES)
def test_kernel_matches_pennylane_and_overlap(n):
  x, xr = _pair(n, 20 + n)
  k = kernels.fidelity_kernel(jnp.asarray(x), jnp.asarray(xr))
  assert k.shape == () and k.dtype == jnp.float32
  np.testing.assert_allclose(float(k), _pl_kernel(x.astype(np.float64), xr.astype(np.float64)),
                             atol=ATOL, rtol=0)
  overlap = jnp.abs(jnp.vdot(kernels.feature_map(jnp.asarray(xr)),
                             kernels.feature_map(jnp.asarray(x)))) ** 2
  np.testing.assert_allclose(float(k), float(overlap), atol=ATOL, rtol=0)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_kernel_diagonal_symmetry_and_range(n):
  rng = np.random.default_rng(30 + n)
  xs = jnp.asarray(rng.uniform(-np.pi, np.pi, (3, n)), jnp.float32)
  gram = np.array([[float(kernels.fidelity_kernel(a, b)) for b in xs] for a in xs])
  np.testing.assert_allclose(np.diag(gram), 1.0, atol=ATOL)
  np.testing.assert_allclose(gram, gram.T, atol=ATOL)
  assert np.all(gram >= -ATOL) and np.all(gram <= 1 + ATOL)
  # Genuine kernel: distinct inputs are not all mapped to 1 (unlike the reference gate).
  off = gram[~np.eye(3, dtype=bool)]
  assert off.min() < 0.99
  # A Gram matrix of a fidelity kernel is positive semi-definite.
  assert np.linalg.eigvalsh(gram).min() > -1e-5


def test_kernel_known_values():
  # n = 1, x = 0: |phi(0)> = H|0> = |+>.  For x' = pi/2 (by hand): RZ(pi/2) turns |+>
  # into |+i>, RY(pi/2) leaves that Y eigenstate alone up to a phase, and RZ(pi/2)
  # turns |+i> into |->, which is orthogonal to |+>: k = 0.
  # A second value, k(0, pi), is checked against PennyLane.
  k = kernels.fidelity_kernel(jnp.zeros(1), jnp.asarray([np.pi / 2]))
  np.testing.assert_allclose(float(k), 0.0, atol=ATOL)
  x, xr = np.array([0.0], np.float32), np.array([np.pi], np.float32)
  np.testing.assert_allclose(float(kernels.fidelity_kernel(jnp.asarray(x), jnp.asarray(xr))),
                             _pl_kernel(x.astype(np.float64), xr.astype(np.float64)), atol=ATOL)
  # Periodicity: angles enter as x/2 phases, so x -> x + 4 pi leaves the state unchanged.
  x = jnp.asarray([0.3, -1.2, 2.0])
  np.testing.assert_allclose(float(kernels.fidelity_kernel(x, x + 4 * jnp.pi)), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- #
# Gradients w.r.t. the reference vectors
# --------------------------------------------------------------------------- #
def test_gradient_wrt_refs_matches_finite_differences():
  n, big_n = 2, 3
  rng = np.random.default_rng(40)
  with enable_x64():
    v = jnp.asarray(rng.uniform(-np.pi, np.pi, n), jnp.float64)
    refs = jnp.asarray(rng.uniform(-np.pi, np.pi, (big_n, n)), jnp.float64)
    alphas = jnp.asarray(rng.normal(size=(big_n, 2)), jnp.float64)
    bias = jnp.asarray(rng.normal(size=2), jnp.float64)

    def loss(r):
      return jnp.sum(kernels.kernel_gate(v, r, alphas, bias, jnp.tanh) * jnp.array([1.0, -0.5]))

    # One compiled function serves both the gradient and the finite differences.
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    _, g = value_and_grad(refs)
    g = np.asarray(g)
    assert g.shape == (big_n, n) and g.dtype == np.float64
    assert np.max(np.abs(g)) > 1e-3  # refs are trainable: nonzero gradient

    h = 1e-6
    fd = np.zeros((big_n, n))
    for j in range(big_n):
      for i in range(n):
        e = np.zeros((big_n, n))
        e[j, i] = h
        fd[j, i] = (float(value_and_grad(refs + e)[0]) -
                    float(value_and_grad(refs - e)[0])) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-7, rtol=1e-6)


# --------------------------------------------------------------------------- #
# kernel_features / kernel_gate / vmap  (shared shapes: n = 2, N = 3)
# --------------------------------------------------------------------------- #
N_WIRES, N_REFS = 2, 3
# Jitted once and shared (an eager vmap over refs compiles every batched op).
_FEATS = jax.jit(kernels.kernel_features)
_GATE = jax.jit(kernels.kernel_gate, static_argnums=4)


def _gate_params(seed, out=2):
  rng = np.random.default_rng(seed)
  refs = jnp.asarray(rng.uniform(-np.pi, np.pi, (N_REFS, N_WIRES)), jnp.float32)
  alphas = jnp.asarray(rng.normal(size=(N_REFS, out)), jnp.float32)
  bias = jnp.asarray(rng.normal(size=out), jnp.float32)
  return refs, alphas, bias


def test_kernel_features_and_gate():
  refs, alphas, bias = _gate_params(50)
  v = jnp.asarray(np.random.default_rng(51).uniform(-np.pi, np.pi, N_WIRES), jnp.float32)
  feats = _FEATS(v, refs)
  assert feats.shape == (N_REFS,) and feats.dtype == jnp.float32
  ref = np.array([_pl_kernel(np.asarray(v, np.float64), np.asarray(r, np.float64)) for r in refs])
  np.testing.assert_allclose(np.asarray(feats), ref, atol=ATOL)
  gate = _GATE(v, refs, alphas, bias, jnp.tanh)
  assert gate.shape == (2,)
  expect = np.tanh(ref @ np.asarray(alphas, np.float64) + np.asarray(bias, np.float64))
  np.testing.assert_allclose(np.asarray(gate), expect, atol=ATOL)
  # A reference equal to the input gives feature 1.
  feats = _FEATS(v, refs.at[1].set(v))
  np.testing.assert_allclose(float(feats[1]), 1.0, atol=ATOL)


def test_vmapped_kernel_gate_and_feature_map_match_pennylane():
  refs, alphas, bias = _gate_params(60)
  vs = jnp.asarray(np.random.default_rng(61).uniform(-np.pi, np.pi, (4, N_WIRES)), jnp.float32)
  batched = jax.jit(jax.vmap(kernels.kernel_gate, in_axes=(0, None, None, None, None)),
                    static_argnums=4)(vs, refs, alphas, bias, jnp.tanh)
  assert batched.shape == (4, 2)
  states = np.asarray(jax.jit(jax.vmap(kernels.feature_map))(vs))
  for i, v in enumerate(np.asarray(vs, np.float64)):
    k = np.array([_pl_kernel(v, np.asarray(r, np.float64)) for r in refs])
    expect = np.tanh(k @ np.asarray(alphas, np.float64) + np.asarray(bias, np.float64))
    np.testing.assert_allclose(np.asarray(batched[i]), expect, atol=ATOL)
    np.testing.assert_allclose(states[i], _pl_feature_state(v), atol=ATOL, rtol=0)
  assert np.ptp(np.asarray(batched)) > 1e-3


def test_corrected_gate_differs_from_reference_gate():
  """The published circuit is constant; the kernel gate responds to its input."""
  refs, alphas, bias = _gate_params(70)
  rng = np.random.default_rng(71)
  vs = rng.uniform(-np.pi, np.pi, (3, N_WIRES)).astype(np.float32)
  outs = [np.asarray(_GATE(jnp.asarray(v), refs, alphas, bias, jnp.tanh)) for v in vs]
  assert np.ptp(outs, axis=0).max() > 1e-2
  ref = [np.asarray(circuits.qk_reference_gate(jnp.asarray(v))) for v in vs]
  np.testing.assert_allclose(np.ptp(ref, axis=0), 0.0, atol=1e-6)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
_V = jnp.ones(3)
_R = jnp.ones((4, 3))
_A = jnp.ones((4, 2))
_B = jnp.ones(2)

BAD_INPUTS = [
    ("x not 1-D", lambda: kernels.feature_map(jnp.ones((2, 3))), r"x must be a non-empty 1-D"),
    ("empty x", lambda: kernels.feature_map(jnp.ones(0)), r"x must be a non-empty 1-D"),
    ("kernel shape mismatch", lambda: kernels.fidelity_kernel(_V, jnp.ones(2)),
     r"x and x_ref must have the same shape"),
    ("x_ref not 1-D", lambda: kernels.fidelity_kernel(_V, _R), r"x_ref must be a non-empty 1-D"),
    ("refs 1-D", lambda: kernels.kernel_features(_V, jnp.ones(3)), r"refs must be 2-D \(N, n\)"),
    ("refs 3-D", lambda: kernels.kernel_features(_V, jnp.ones((1, 4, 3))), r"refs must be 2-D"),
    ("refs wrong width", lambda: kernels.kernel_features(_V, jnp.ones((4, 2))),
     r"refs must have width n = len\(v\) = 3"),
    ("no refs", lambda: kernels.kernel_features(_V, jnp.ones((0, 3))), r"at least one reference"),
    ("v not 1-D", lambda: kernels.kernel_features(_R, _R), r"v must be a non-empty 1-D"),
    ("alphas 1-D", lambda: kernels.kernel_gate(_V, _R, jnp.ones(4), _B, jnp.tanh),
     r"alphas must be 2-D \(N, out\)"),
    ("alphas wrong N", lambda: kernels.kernel_gate(_V, _R, jnp.ones((3, 2)), _B, jnp.tanh),
     r"N = len\(refs\) = 4"),
    ("bias wrong shape", lambda: kernels.kernel_gate(_V, _R, _A, jnp.ones(3), jnp.tanh),
     r"bias must have shape \(out,\) = \(2,\)"),
    ("activation not callable", lambda: kernels.kernel_gate(_V, _R, _A, _B, "tanh"),
     r"activation must be callable"),
    ("gate refs wrong width", lambda: kernels.kernel_gate(_V, jnp.ones((4, 2)), _A, _B, jnp.tanh),
     r"refs must have width"),
]


@pytest.mark.parametrize("fn,match", [(f, m) for _, f, m in BAD_INPUTS],
                         ids=[name for name, _, _ in BAD_INPUTS])
def test_bad_input_raises(fn, match):
  with pytest.raises(ValueError, match=match):
    fn()
