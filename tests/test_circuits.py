"""Tests for jqmeta.circuits against PennyLane ``default.qubit``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from jqmeta import circuits

try:  # jax < 0.7 spelling; newer jax has the context manager at jax.enable_x64(True)
  from jax.experimental import enable_x64
except ImportError:
  def enable_x64():
    return jax.enable_x64(True)

ATOL = 1e-6  # complex64 state / readout tolerance
GTOL = 1e-4  # float32 gradient tolerance vs float64 PennyLane


# --------------------------------------------------------------------------- #
# Helpers: one op list drives both the JAX simulator and a PennyLane QNode.
# Ops: ("H", w) | ("RX"/"RY"/"RZ", theta, w, adjoint) | ("CNOT", c, t)
# --------------------------------------------------------------------------- #
_JAX_ROT = {"RX": circuits.rx, "RY": circuits.ry, "RZ": circuits.rz}
_PL_ROT = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ}


def _run_jax(ops, n, dtype=jnp.complex64):
  s = circuits.zero_state(n, dtype)
  for op in ops:
    if op[0] == "H":
      s = circuits.hadamard(s, op[1])
    elif op[0] == "CNOT":
      s = circuits.cnot(s, op[1], op[2])
    else:
      s = _JAX_ROT[op[0]](s, op[1], op[2], adjoint=op[3])
  return s


def _run_pl(ops, n):
  """Returns (state, <Z_i>) of the op list on PennyLane default.qubit (float64)."""
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev)
  def circuit():
    for op in ops:
      if op[0] == "H":
        qml.Hadamard(wires=op[1])
      elif op[0] == "CNOT":
        qml.CNOT(wires=[op[1], op[2]])
      elif op[3]:
        qml.adjoint(_PL_ROT[op[0]])(float(op[1]), wires=op[2])
      else:
        _PL_ROT[op[0]](float(op[1]), wires=op[2])
    return qml.state(), [qml.expval(qml.PauliZ(i)) for i in range(n)]

  state, ez = circuit()
  return np.asarray(state), np.asarray(ez, dtype=np.float64)


def _prep_ops(rng, n):
  """A random entangled, complex-amplitude preparation from |0...0>."""
  ang = rng.uniform(-np.pi, np.pi, size=(3, n)).astype(np.float32)
  ops = [("RY", ang[0, i], i, False) for i in range(n)]
  ops += [("RX", ang[1, i], i, False) for i in range(n)]
  ops += [("CNOT", i, i + 1) for i in range(n - 1)]
  ops += [("RY", ang[2, i], i, False) for i in range(n)]
  return ops


def _gate_ops(rng, gate, n):
  """The gate under test applied on every wire (every listed pair for CNOT)."""
  if gate == "H":  # every other wire: a wire mix-up cannot hide behind symmetry
    return [("H", i) for i in range(0, n, 2)]
  if gate == "CNOT":
    pairs = [(i, i + 1) for i in range(n - 1)] + [(n - 1, 0), (0, n - 1), (1, 0)]
    return [("CNOT", c, t) for c, t in dict.fromkeys(pairs) if c != t]
  name, adj = gate.split("_")[0], gate.endswith("_adj")
  ang = rng.uniform(-2 * np.pi, 2 * np.pi, size=n).astype(np.float32)
  return [(name, ang[i], i, adj) for i in range(n)]


def _assert_matches_pl(ops, n):
  state = _run_jax(ops, n)
  assert state.shape == (2**n,) and state.dtype == jnp.complex64
  ref_state, ref_ez = _run_pl(ops, n)
  np.testing.assert_allclose(np.asarray(state), ref_state, atol=ATOL, rtol=0)
  ez = circuits.expval_z(state)
  assert ez.shape == (n,) and ez.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(ez), ref_ez, atol=ATOL, rtol=0)


GATES = ["H", "RX", "RX_adj", "RY", "RY_adj", "RZ", "RZ_adj", "CNOT"]
GATE_CASES = [(g, n) for n in range(1, 6) for g in GATES if not (g == "CNOT" and n == 1)]
GATE_CASES += [(g, 8) for g in ("H", "RX_adj", "RY", "RZ", "CNOT")]


# --------------------------------------------------------------------------- #
# Gates
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("gate,n", GATE_CASES)
def test_gate_matches_pennylane(gate, n):
  rng = np.random.default_rng(1000 * n + GATES.index(gate))
  _assert_matches_pl(_prep_ops(rng, n) + _gate_ops(rng, gate, n), n)


@pytest.mark.parametrize("gate", ["RX", "RY", "RZ"])
def test_adjoint_inverts_rotation(gate):
  rng = np.random.default_rng(7)
  n = 3
  s0 = _run_jax(_prep_ops(rng, n), n)
  fn = _JAX_ROT[gate]
  s = fn(fn(s0, 0.731, 1), 0.731, 1, adjoint=True)
  np.testing.assert_allclose(np.asarray(s), np.asarray(s0), atol=ATOL, rtol=0)
  # A genuine rotation must move the state (guards against a no-op gate).
  assert np.max(np.abs(np.asarray(fn(s0, 0.731, 1) - s0))) > 1e-2


def test_self_inverse_gates():
  rng = np.random.default_rng(8)
  s0 = _run_jax(_prep_ops(rng, 4), 4)
  np.testing.assert_allclose(
      np.asarray(circuits.hadamard(circuits.hadamard(s0, 2), 2)), np.asarray(s0), atol=ATOL)
  np.testing.assert_allclose(
      np.asarray(circuits.cnot(circuits.cnot(s0, 3, 1), 3, 1)), np.asarray(s0), atol=ATOL)


def test_wire_ordering_wire0_is_msb():
  s = circuits.rx(circuits.zero_state(3), np.pi, 0)  # |100> -> index 4
  np.testing.assert_allclose(np.abs(np.asarray(s)) ** 2, np.eye(8)[4], atol=ATOL)
  s = circuits.cnot(s, 0, 2)  # |101> -> index 5
  np.testing.assert_allclose(np.abs(np.asarray(s)) ** 2, np.eye(8)[5], atol=ATOL)


def test_rz_convention():
  s = circuits.hadamard(circuits.zero_state(1), 0)
  s = circuits.rz(s, 0.4, 0)
  np.testing.assert_allclose(
      np.asarray(s), np.array([np.exp(-0.2j), np.exp(0.2j)]) / np.sqrt(2), atol=ATOL)


def test_zero_state_and_prob_zero():
  s = circuits.zero_state(3)
  assert s.shape == (8,) and s.dtype == jnp.complex64
  np.testing.assert_array_equal(np.asarray(s), np.eye(8)[0])
  assert float(circuits.prob_zero(s)) == 1.0
  s = circuits.hadamard(circuits.hadamard(s, 0), 2)
  np.testing.assert_allclose(float(circuits.prob_zero(s)), 0.25, atol=ATOL)


def test_complex128_under_x64_matches_pennylane_tightly():
  rng = np.random.default_rng(9)
  n = 2
  ops = _prep_ops(rng, n) + _gate_ops(rng, "RZ_adj", n) + _gate_ops(rng, "H", n)
  ops += _gate_ops(rng, "RX_adj", n) + _gate_ops(rng, "CNOT", n)
  with enable_x64():
    ops64 = [tuple(float(o) if isinstance(o, np.floating) else o for o in op) for op in ops]
    run = jax.jit(lambda: (lambda s: (s, circuits.expval_z(s)))(
        _run_jax(ops64, n, jnp.complex128)))  # jit: one compile, not one per eager op
    state, ez = run()
    assert state.dtype == jnp.complex128 and ez.dtype == jnp.float64
    ref_state, ref_ez = _run_pl(ops, n)
    np.testing.assert_allclose(np.asarray(state), ref_state, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ez), ref_ez, atol=1e-12)
    # Named circuits pick complex128 from float64 inputs (shape/dtype only: no compile).
    for fn, args in [(circuits.qk_reference_gate, (jnp.ones(2),)),
                     (circuits.qlstm_gate, (jnp.ones(2), jnp.ones(2))),
                     (circuits.fwp_circuit, (jnp.ones(2), jnp.ones((1, 2))))]:
      assert jax.eval_shape(fn, *args).dtype == jnp.float64
  assert jax.eval_shape(circuits.qlstm_gate, jnp.ones(2), jnp.ones(2)).dtype == jnp.float32


# --------------------------------------------------------------------------- #
# Named circuits vs PennyLane QNodes
# --------------------------------------------------------------------------- #
def _pl_qk_reference(n):
  dev = qml.device("default.qubit", wires=n)

  def u(a):
    for i in range(n):
      qml.Hadamard(wires=i)
    for i in range(n):
      qml.RZ(a[i], wires=i)
    for i in range(n):
      qml.RY(a[i], wires=i)
    for i in range(n - 1):
      qml.CNOT(wires=[i, i + 1])
    for i in range(n):
      qml.RZ(a[i], wires=i)

  @qml.qnode(dev, interface="autograd", diff_method="backprop")
  def circuit(y):
    a = pnp.cos(y**2)
    u(a)
    qml.adjoint(u)(a)
    return [qml.expval(qml.PauliZ(i)) for i in range(n)]

  return circuit


def _pl_qlstm(n):
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev, interface="autograd", diff_method="backprop")
  def circuit(y, weights):
    for i in range(n):
      qml.RX(y[i], wires=i)
    qml.BasicEntanglerLayers(weights, wires=range(n), rotation=qml.RX)
    return [qml.expval(qml.PauliZ(i)) for i in range(n)]

  return circuit


def _pl_fwp(n):
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev, interface="autograd", diff_method="backprop")
  def circuit(e, fw):
    for i in range(n):
      qml.Hadamard(wires=i)
    for i in range(n):
      qml.RY(e[i], wires=i)
    for l in range(fw.shape[0]):
      for i in range(n - 1):
        qml.CNOT(wires=[i, i + 1])
      for i in range(n):
        qml.RY(fw[l, i], wires=i)
    return [qml.expval(qml.PauliZ(i)) for i in range(n)]

  return circuit


def _pl_value_and_grad(circuit, *args):
  """PennyLane readouts and the float64 autograd gradient of their sum."""
  pargs = [pnp.array(np.asarray(a, np.float64), requires_grad=True) for a in args]
  val = np.asarray(circuit(*pargs), np.float64)
  argnums = 0 if len(args) == 1 else list(range(len(args)))
  grads = qml.grad(lambda *a: pnp.sum(pnp.stack(circuit(*a))), argnums=argnums)(*pargs)
  if len(args) == 1:
    grads = (grads,)
  return val, [np.asarray(g) for g in grads]


def _jit_value_and_grad(fn, n_args):
  """jit of: args -> (readouts, grads of their sum w.r.t. every arg).

  Gradients are taken under jit: eager-mode autodiff of these unrolled circuits
  spends far longer dispatching ops than one XLA compile does.
  """
  def sum_and_readouts(*a):
    z = fn(*a)
    return jnp.sum(z), z

  vg = jax.value_and_grad(sum_and_readouts, argnums=tuple(range(n_args)), has_aux=True)

  @jax.jit
  def run(*a):
    (_, z), grads = vg(*a)
    return z, grads

  return lambda *a: (lambda z, g: (np.asarray(z), [np.asarray(x) for x in g]))(*run(*a))


_VG_QK = _jit_value_and_grad(circuits.qk_reference_gate, 1)
_VG_QLSTM = _jit_value_and_grad(circuits.qlstm_gate, 2)
_VG_FWP = _jit_value_and_grad(circuits.fwp_circuit, 2)

QLSTM_CASES = [(1, None), (2, None), (3, None), (4, None), (5, None), (8, None),
               (1, 2), (2, 1), (2, 3), (3, 2), (4, 2), (5, 3)]
FWP_CASES = [(1, 1), (2, 1), (2, 3), (3, 1), (3, 2), (4, 2), (5, 1), (8, 2)]


def _qlstm_inputs(n, layers):
  rng = np.random.default_rng(40 + 10 * n + (layers or 0))
  y = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
  w = rng.uniform(-np.pi, np.pi, (n,) if layers is None else (layers, n)).astype(np.float32)
  return y, w


def _fwp_inputs(n, layers):
  rng = np.random.default_rng(60 + 10 * n + layers)
  e = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
  fw = rng.uniform(-np.pi, np.pi, (layers, n)).astype(np.float32)
  return e, fw


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8])
def test_qk_reference_gate_matches_pennylane(n):
  y = np.random.default_rng(20 + n).normal(size=n).astype(np.float32)
  z = circuits.qk_reference_gate(jnp.asarray(y))
  assert z.shape == (n,) and z.dtype == jnp.float32
  ref = np.asarray(_pl_qk_reference(n)(pnp.array(y.astype(np.float64))), np.float64)
  np.testing.assert_allclose(np.asarray(z), ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("n,layers", QLSTM_CASES)
def test_qlstm_gate_matches_pennylane(n, layers):
  y, w = _qlstm_inputs(n, layers)
  z = circuits.qlstm_gate(jnp.asarray(y), jnp.asarray(w))
  assert z.shape == (n,) and z.dtype == jnp.float32
  ref = np.asarray(_pl_qlstm(n)(pnp.array(y.astype(np.float64)),
                                pnp.array(w.reshape(-1, n).astype(np.float64))), np.float64)
  np.testing.assert_allclose(np.asarray(z), ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("n,layers", FWP_CASES)
def test_fwp_circuit_matches_pennylane(n, layers):
  e, fw = _fwp_inputs(n, layers)
  z = circuits.fwp_circuit(jnp.asarray(e), jnp.asarray(fw))
  assert z.shape == (n,) and z.dtype == jnp.float32
  ref = np.asarray(_pl_fwp(n)(pnp.array(e.astype(np.float64)),
                              pnp.array(fw.astype(np.float64))), np.float64)
  np.testing.assert_allclose(np.asarray(z), ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("n,layers", [(1, 2), (2, 1), (4, 2)])
def test_qlstm_gate_gradient_matches_pennylane(n, layers):
  y, w = _qlstm_inputs(n, layers)
  val, grads = _VG_QLSTM(y, w)
  ref_val, ref_grads = _pl_value_and_grad(_pl_qlstm(n), y, w.reshape(-1, n))
  np.testing.assert_allclose(val, ref_val, atol=ATOL, rtol=0)  # jit == PennyLane too
  for g, r in zip(grads, ref_grads):
    assert g.shape == r.reshape(g.shape).shape
    assert np.max(np.abs(r)) > 1e-3  # a real, non-trivial gradient
    np.testing.assert_allclose(g, r.reshape(g.shape), atol=GTOL, rtol=0)


@pytest.mark.parametrize("n,layers", [(2, 1), (3, 2)])
def test_fwp_circuit_gradient_matches_pennylane(n, layers):
  e, fw = _fwp_inputs(n, layers)
  val, grads = _VG_FWP(e, fw)
  ref_val, ref_grads = _pl_value_and_grad(_pl_fwp(n), e, fw)
  np.testing.assert_allclose(val, ref_val, atol=ATOL, rtol=0)
  for g, r in zip(grads, ref_grads):
    assert np.max(np.abs(r)) > 1e-3
    np.testing.assert_allclose(g, r, atol=GTOL, rtol=0)


def test_gate_gradient_matches_pennylane():
  """Gradient through every gate type (incl. adjoints) w.r.t. all angles."""
  n = 2
  rng = np.random.default_rng(99)
  ang = rng.uniform(-np.pi, np.pi, (4, n))
  dev = qml.device("default.qubit", wires=n)

  @qml.qnode(dev, interface="autograd", diff_method="backprop")
  def pl(a):
    for i in range(n):
      qml.Hadamard(wires=i)
      qml.RY(a[0, i], wires=i)
    qml.CNOT(wires=[0, 1])
    for i in range(n):
      qml.RZ(a[1, i], wires=i)
      qml.adjoint(qml.RX)(a[2, i], wires=i)
    qml.CNOT(wires=[1, 0])
    for i in range(n):
      qml.adjoint(qml.RY)(a[3, i], wires=i)
      qml.adjoint(qml.RZ)(a[0, i], wires=i)
      qml.RX(a[1, i], wires=i)
    return [qml.expval(qml.PauliZ(i)) for i in range(n)]

  def jx(a):
    s = circuits.zero_state(n)
    for i in range(n):
      s = circuits.ry(circuits.hadamard(s, i), a[0, i], i)
    s = circuits.cnot(s, 0, 1)
    for i in range(n):
      s = circuits.rx(circuits.rz(s, a[1, i], i), a[2, i], i, adjoint=True)
    s = circuits.cnot(s, 1, 0)
    for i in range(n):
      s = circuits.ry(s, a[3, i], i, adjoint=True)
      s = circuits.rx(circuits.rz(s, a[0, i], i, adjoint=True), a[1, i], i)
    return circuits.expval_z(s)

  val, (g,) = _jit_value_and_grad(jx, 1)(jnp.asarray(ang, jnp.float32))
  ref_val, (r,) = _pl_value_and_grad(pl, ang)
  np.testing.assert_allclose(val, ref_val, atol=ATOL)
  assert np.max(np.abs(r)) > 1e-3
  np.testing.assert_allclose(g, r, atol=GTOL, rtol=0)


# --------------------------------------------------------------------------- #
# The published QK gate circuit is the identity
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_qk_reference_gate_readouts_are_one(n):
  rng = np.random.default_rng(300 + n)
  for y in rng.normal(scale=2.0, size=(3, n)).astype(np.float32):
    z = circuits.qk_reference_gate(jnp.asarray(y))
    np.testing.assert_allclose(np.asarray(z), 1.0, atol=1e-6, rtol=0)


def test_qk_reference_gate_has_zero_gradient():
  # In float64 the cancellation is exact to rounding, so the check is tight.
  rng = np.random.default_rng(320)
  with enable_x64():
    for y in rng.normal(scale=2.0, size=(4, 3)):
      z, (g,) = _VG_QK(jnp.asarray(y, jnp.float64))
      assert z.dtype == np.float64 and g.dtype == np.float64
      np.testing.assert_allclose(z, 1.0, atol=1e-12, rtol=0)
      np.testing.assert_allclose(g, 0.0, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- #
# vmap: every batch entry against PennyLane
# --------------------------------------------------------------------------- #
def test_vmapped_named_circuits_match_pennylane():
  rng = np.random.default_rng(400)
  b, n = 5, 2
  y = rng.normal(size=(b, n)).astype(np.float32)
  w = rng.normal(size=(b, 1, n)).astype(np.float32)
  batched = np.asarray(jax.jit(jax.vmap(circuits.qlstm_gate))(jnp.asarray(y), jnp.asarray(w)))
  qlstm = _pl_qlstm(n)
  for i in range(b):
    ref = np.asarray(qlstm(pnp.array(y[i], dtype=np.float64), pnp.array(w[i], dtype=np.float64)))
    np.testing.assert_allclose(batched[i], ref, atol=ATOL, rtol=0)
  # Shared weights (in_axes=None).
  batched = np.asarray(jax.jit(jax.vmap(circuits.fwp_circuit, in_axes=(0, None)))(
      jnp.asarray(y), jnp.asarray(w[0])))
  fwp = _pl_fwp(n)
  for i in range(b):
    ref = np.asarray(fwp(pnp.array(y[i], dtype=np.float64), pnp.array(w[0], dtype=np.float64)))
    np.testing.assert_allclose(batched[i], ref, atol=ATOL, rtol=0)
  assert np.ptp(batched, axis=0).max() > 1e-3  # batch entries differ


def test_vmapped_gates_match_pennylane():
  rng = np.random.default_rng(401)
  b, n = 4, 3
  preps = [_prep_ops(rng, n) for _ in range(b)]
  states = jnp.stack([_run_jax(ops, n) for ops in preps])
  thetas = rng.normal(size=b).astype(np.float32)

  def circ(s, t):
    s = circuits.rx(s, t, 0)
    s = circuits.ry(s, t, 1, adjoint=True)
    s = circuits.rz(s, 2 * t, 2)
    s = circuits.cnot(circuits.hadamard(s, 1), 2, 0)
    return s, circuits.expval_z(s), circuits.prob_zero(s)

  state, ez, p0 = (np.asarray(x) for x in jax.jit(jax.vmap(circ))(states, jnp.asarray(thetas)))
  for i, t in enumerate(thetas):
    ops = preps[i] + [("RX", t, 0, False), ("RY", t, 1, True), ("RZ", 2 * t, 2, False),
                      ("H", 1), ("CNOT", 2, 0)]
    ref_state, ref_ez = _run_pl(ops, n)
    np.testing.assert_allclose(state[i], ref_state, atol=ATOL, rtol=0)
    np.testing.assert_allclose(ez[i], ref_ez, atol=ATOL, rtol=0)
    np.testing.assert_allclose(p0[i], abs(ref_state[0]) ** 2, atol=ATOL, rtol=0)


# --------------------------------------------------------------------------- #
# The published precision
# --------------------------------------------------------------------------- #
def _np_readouts(n, gates_, f32_coeffs):
  """<Z_i> of H / RX / RY / CNOT ops on |0..0> by dense NumPy float64; rotation cos/sin of
  the float32 angles are rounded to float32 if ``f32_coeffs`` (PennyLane default.qubit)."""
  def trig(t):
    h = np.float64(np.float32(t)) / 2
    c, s = np.cos(h), np.sin(h)
    return (float(np.float32(c)), float(np.float32(s))) if f32_coeffs else (c, s)
  psi = np.zeros(2**n, complex)
  psi[0] = 1
  k = np.arange(2**n)
  for op in gates_:
    if op[0] == "CNOT":
      c, t = op[1], op[2]
      psi = psi[np.where((k >> (n - 1 - c)) & 1, k ^ (1 << (n - 1 - t)), k)]
      continue
    if op[0] == "H":
      m = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    else:
      c, s = trig(op[1])
      m = np.array([[c, -1j * s], [-1j * s, c]]) if op[0] == "RX" else np.array([[c, -s], [s, c]])
    w = op[-1]
    psi = np.moveaxis(np.tensordot(m, psi.reshape((2,) * n), axes=([1], [w])), 0, w).reshape(-1)
  bits = (k[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
  return (np.abs(psi) ** 2) @ (1 - 2 * bits)


def _fwp_ops(e, fw):
  n = len(e)
  ops = [("H", i) for i in range(n)] + [("RY", e[i], i) for i in range(n)]
  for layer in fw:
    ops += [("CNOT", i, i + 1) for i in range(n - 1)] + [("RY", layer[i], i) for i in range(n)]
  return ops


def _qlstm_ops(y, w):
  n = len(y)
  ops = [("RX", y[i], i) for i in range(n)]
  for layer in w:
    ops += [("RX", layer[i], i) for i in range(n)]
    ops += [("CNOT", 0, 1)] if n == 2 else [("CNOT", i, (i + 1) % n) for i in range(n)]
  return ops


@pytest.mark.parametrize("gate", ["RX", "RY", "RZ"])
def test_round_coeffs_rotations_use_float32_cos_and_sin(gate):
  """``round_coeffs=True`` on a complex128 state: the 2x2 matrix built from cos and sin of
  theta/2 rounded to float32 (PennyLane default.qubit with a float32 parameter), adjoint
  included; without it, float64 coefficients."""
  rng = np.random.default_rng(600 + len(gate) + ord(gate[1]))
  with enable_x64():
    s0 = jnp.asarray(_run_pl(_prep_ops(rng, 2), 2)[0], jnp.complex128)
    for theta in rng.uniform(-4, 4, 5).astype(np.float32):
      for adjoint in (False, True):
        t = -np.float64(theta) if adjoint else np.float64(theta)
        c, sn = np.cos(t / 2), np.sin(t / 2)
        c32, s32 = float(np.float32(c)), float(np.float32(sn))
        mats = {"RX": lambda c, s: np.array([[c, -1j * s], [-1j * s, c]]),
                "RY": lambda c, s: np.array([[c, -s], [s, c]]),
                "RZ": lambda c, s: np.diag([c - 1j * s, c + 1j * s])}
        fn = _JAX_ROT[gate]
        for rc, (cc, ss) in [(True, (c32, s32)), (False, (c, sn))]:
          out = np.asarray(fn(s0, jnp.float32(theta), 1, adjoint=adjoint, round_coeffs=rc))
          ref = np.einsum("ij,ajb->aib", mats[gate](cc, ss), np.asarray(s0).reshape(2, 2, 1))
          np.testing.assert_allclose(out, ref.reshape(-1), atol=1e-15, rtol=0)
        assert np.abs(np.asarray(fn(s0, jnp.float32(theta), 1, round_coeffs=True)) -
                      np.asarray(fn(s0, jnp.float32(theta), 1))).max() > 1e-10


def test_published_circuits_match_a_float64_statevector_bit_for_bit():
  """``precision="published"``: complex128 states, readouts rounded to float32; QFWP's
  rotation coefficients rounded to float32 (PennyLane default.qubit with torch float32
  tensors), QLSTM's kept in float64 (lightning.qubit).  The rounding is what matters:
  float64 QFWP coefficients change most readouts."""
  rng = np.random.default_rng(500)
  fwp = jax.jit(jax.vmap(lambda e, f: circuits.fwp_circuit(e, f, precision="published")))
  qlstm = jax.jit(jax.vmap(lambda y, w: circuits.qlstm_gate(y, w, precision="published")))
  e = rng.uniform(-np.pi, np.pi, (100, 2)).astype(np.float32)
  fw = rng.uniform(-np.pi, np.pi, (100, 1, 2)).astype(np.float32)
  y = rng.uniform(-np.pi, np.pi, (50, 4)).astype(np.float32)
  w = rng.uniform(0, 2 * np.pi, (50, 1, 4)).astype(np.float32)
  z_fwp, z_qlstm = np.asarray(fwp(e, fw)), np.asarray(qlstm(y, w))
  assert z_fwp.dtype == np.float32 and z_qlstm.dtype == np.float32
  ref = np.array([_np_readouts(2, _fwp_ops(a, b), True) for a, b in zip(e, fw)])
  np.testing.assert_array_equal(z_fwp, ref.astype(np.float32))
  f64_coeffs = np.array([_np_readouts(2, _fwp_ops(a, b), False) for a, b in zip(e, fw)])
  assert np.mean(z_fwp != f64_coeffs.astype(np.float32)) > 0.3
  ref = np.array([_np_readouts(4, _qlstm_ops(a, b), False) for a, b in zip(y, w)])
  np.testing.assert_array_equal(z_qlstm, ref.astype(np.float32))
  # The published QK-LSTM gate (lightning.qubit, float64 coefficients) reads exactly 1.
  z_qk = jax.jit(jax.vmap(lambda v: circuits.qk_reference_gate(v, precision="published")))(y)
  np.testing.assert_array_equal(np.asarray(z_qk), 1.0)


def test_published_fwp_circuit_is_pennylane_with_float32_torch_parameters():
  """Against PennyLane default.qubit itself fed float32 torch tensors: the readouts agree to
  one float32 ulp (torch's float32 cos/sin are not always correctly rounded)."""
  torch = pytest.importorskip("torch")
  dev = qml.device("default.qubit", wires=2)

  @qml.qnode(dev, interface="torch")
  def circuit(e, f):
    for i in range(2):
      qml.Hadamard(wires=i)
    for i in range(2):
      qml.RY(e[i], wires=i)
    qml.CNOT(wires=[0, 1])
    for i in range(2):
      qml.RY(f[i], wires=i)
    return [qml.expval(qml.PauliZ(i)) for i in range(2)]

  rng = np.random.default_rng(501)
  e = rng.uniform(-np.pi, np.pi, (40, 2)).astype(np.float32)
  f = rng.uniform(-np.pi, np.pi, (40, 1, 2)).astype(np.float32)
  z = np.asarray(jax.jit(jax.vmap(lambda a, b: circuits.fwp_circuit(a, b, precision="published")))(e, f))
  ref = np.array([[float(v) for v in circuit(torch.tensor(a), torch.tensor(b[0]))]
                  for a, b in zip(e, f)]).astype(np.float32)
  np.testing.assert_allclose(z, ref, atol=1.2e-7, rtol=0)
  assert np.mean(z == ref) > 0.8


@pytest.mark.parametrize("name", ["qlstm", "fwp"])
def test_published_circuit_gradients_match_pennylane(name):
  n, layers = (4, 1) if name == "qlstm" else (2, 1)
  fn = {"qlstm": circuits.qlstm_gate, "fwp": circuits.fwp_circuit}[name]
  pl = {"qlstm": _pl_qlstm, "fwp": _pl_fwp}[name](n)
  x, w = (_qlstm_inputs if name == "qlstm" else _fwp_inputs)(n, layers)
  w = w.reshape(layers, n)
  val, grads = _jit_value_and_grad(lambda a, b: fn(a, b, precision="published"), 2)(x, w)
  ref_val, ref_grads = _pl_value_and_grad(pl, x, w)
  assert val.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
  np.testing.assert_allclose(val, ref_val, atol=3e-7, rtol=0)
  for g, r in zip(grads, ref_grads):
    assert np.max(np.abs(r)) > 1e-3
    np.testing.assert_allclose(g, r.reshape(g.shape), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
_S3 = circuits.zero_state(3)

BAD_INPUTS = [
    ("wire out of range", lambda: circuits.hadamard(_S3, 3), r"wire 3 out of range"),
    ("negative wire", lambda: circuits.rx(_S3, 0.1, -1), r"wire -1 out of range"),
    ("float wire", lambda: circuits.ry(_S3, 0.1, 1.0), r"wire must be a static Python int"),
    ("control out of range", lambda: circuits.cnot(_S3, 5, 0), r"control 5 out of range"),
    ("target out of range", lambda: circuits.cnot(_S3, 0, 3), r"target 3 out of range"),
    ("control == target", lambda: circuits.cnot(_S3, 1, 1), r"control and target must differ"),
    ("theta not scalar", lambda: circuits.rz(_S3, jnp.ones(2), 0), r"theta must be a scalar"),
    ("batched state", lambda: circuits.hadamard(jnp.stack([_S3, _S3]), 0),
     r"flat \(2\*\*n,\) vector"),
    ("length not power of 2", lambda: circuits.expval_z(jnp.zeros(6, jnp.complex64)),
     r"power of two"),
    ("real state", lambda: circuits.prob_zero(jnp.zeros(4)), r"must be complex"),
    ("zero wires", lambda: circuits.zero_state(0), r"n_wires must be >= 1"),
    ("real dtype", lambda: circuits.zero_state(2, jnp.float32), r"dtype must be complex"),
    ("y not 1-D", lambda: circuits.qk_reference_gate(jnp.ones((2, 3))),
     r"y must be a non-empty 1-D"),
    ("empty y", lambda: circuits.qk_reference_gate(jnp.ones((0,))), r"y must be a non-empty 1-D"),
    ("qlstm weights wrong width", lambda: circuits.qlstm_gate(jnp.ones(3), jnp.ones(4)),
     r"weights must have shape \(3,\) or \(L, 3\)"),
    ("qlstm weights rank 3", lambda: circuits.qlstm_gate(jnp.ones(3), jnp.ones((1, 1, 3))),
     r"weights must have shape"),
    ("fwp weights 1-D", lambda: circuits.fwp_circuit(jnp.ones(2), jnp.ones(2)),
     r"fast_weights must have shape \(L, 2\)"),
    ("fwp weights wrong width", lambda: circuits.fwp_circuit(jnp.ones(2), jnp.ones((1, 3))),
     r"fast_weights must have shape \(L, 2\)"),
    ("fwp e not 1-D", lambda: circuits.fwp_circuit(jnp.ones((1, 2)), jnp.ones((1, 2))),
     r"e must be a non-empty 1-D"),
    ("unknown precision", lambda: circuits.fwp_circuit(jnp.ones(2), jnp.ones((1, 2)),
                                                       precision="float64"),
     r"precision must be one of \('float32', 'published'\)"),
    ("precision of qk gate", lambda: circuits.qk_reference_gate(jnp.ones(2), precision=None),
     r"precision must be one of"),
]


@pytest.mark.parametrize("fn,match", [(f, m) for _, f, m in BAD_INPUTS],
                         ids=[name for name, _, _ in BAD_INPUTS])
def test_bad_input_raises(fn, match):
  with pytest.raises(ValueError, match=match):
    fn()
