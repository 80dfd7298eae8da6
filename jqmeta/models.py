"""The four learned optimizers as Flax recurrent cells.

Every cell is ONE recurrent step with the same contract::

  carry, angles = model.apply(variables, carry, x)

* ``x``: ``(1 + 2p,)`` float, the input ``[cost_{t-1}, a_{t-1}]`` (previous energy and
  previous flat angle vector; ``a`` reads as ``a.reshape(2, p)``: gammas then betas).
* ``angles``: ``(2p,)`` float, the proposal ``a_t``; it is also what the Phase I loop
  feeds back (see :func:`jqmeta.meta.phase1`).
* ``carry``: the recurrent state, from ``model.initial_carry()`` (all zeros):
  :class:`LSTMCarry` ``(h, c)`` for the three LSTM-like cells, :class:`FWPCarry`
  ``(fast,)`` for QFWP.

``variables = model.init(key, model.initial_carry(), model.dummy_input())`` holds
``"params"`` (trainable) and, for the reference QLSTM, a ``"circuit"`` collection with
the untrained gate-circuit weights.

Variants (``models.create(name, variant=...)``):

* ``"reference"`` reproduces the published models exactly, defects included
  (see the README, "What the published models actually do"):

  - ``lstm``: PyTorch ``nn.LSTM(3, 2)``; the hidden state ``h`` is the angle vector
    (56 params, no mapping).
  - ``qk_lstm``: 4 qubits, hidden 3; each gate is the published circuit, which is the
    identity, so every gate is a constant (28 + 15 params + 8 mapping).
  - ``qlstm``: as QK-LSTM but each gate is RX encoding + one BasicEntanglerLayers layer
    whose 4x4 weights are NOT trained (a ``"circuit"`` collection drawn uniform in
    [0, 2 pi) from the init key) (43 + 8).
  - ``qfwp``: 2 qubits, depth 1; fast weights are reset to zero at every step (31).

* ``"corrected"`` fixes the defects: QK-LSTM gates are genuine fidelity-kernel gates
  ``act(sum_j alpha_j k(y, r_j) + b)`` with trainable references ``r_j``; QLSTM circuit
  weights are trainable (and therefore saved); QFWP carries its fast weights.

All variants accept any depth ``p >= 1`` (``2p`` angles out, ``1 + 2p`` inputs).

Example:
  >>> import jax
  >>> from jqmeta import models
  >>> model = models.create("lstm")
  >>> variables = model.init(jax.random.key(0), model.initial_carry(), model.dummy_input())
  >>> models.count_params(variables["params"])
  {'sequence': 56, 'mapping': 0, 'total': 56}
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jqmeta import circuits, kernels

__all__ = [
    "create",
    "count_params",
    "param_labels",
    "MODEL_NAMES",
    "VARIANTS",
    "LSTMCarry",
    "FWPCarry",
    "LSTMCell",
    "QuantumGateLSTMCell",
    "QFWPCell",
]

MODEL_NAMES = ("lstm", "qk_lstm", "qlstm", "qfwp")
VARIANTS = ("reference", "corrected")
MAPPING = "mapping"  # top-level params subtree trained with the mapping learning rate


class LSTMCarry(NamedTuple):
  """Recurrent state of the LSTM-like cells: ``h, c`` each ``(hidden,)`` float32.

  Example:
    >>> create("qk_lstm").initial_carry().h.shape
    (3,)
  """
  h: jax.Array
  c: jax.Array


class FWPCarry(NamedTuple):
  """Recurrent state of QFWP: the fast weights ``(depth, n_qubits)`` float32.

  Example:
    >>> create("qfwp").initial_carry().fast.shape
    (1, 2)
  """
  fast: jax.Array


def _torch_uniform(fan_in: int) -> Callable:
  """PyTorch's default ``Linear``/``LSTM`` init: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def _linear(features: int, fan_in: int, name: str) -> nn.Dense:
  """``nn.Dense`` initialised like ``torch.nn.Linear`` (kernel is the torch weight.T)."""
  return nn.Dense(features, name=name, kernel_init=_torch_uniform(fan_in),
                  bias_init=_torch_uniform(fan_in))


def _check_input(x: jax.Array, p: int) -> None:
  chex.assert_shape(x, (1 + 2 * p,))


class LSTMCell(nn.Module):
  """PyTorch-layout LSTM cell whose hidden state is the angle vector (reference LSTM).

  Gates ``W_ih x + b_ih + W_hh h + b_hh`` in PyTorch order i, f, g, o; hidden size is
  ``2p``; ``h`` is returned as the angles.  Params ``weight_ih (8p, 1+2p)``,
  ``weight_hh (8p, 2p)``, ``bias_ih (8p,)``, ``bias_hh (8p,)`` (56 at p=1).

  Shapes: ``carry`` :class:`LSTMCarry` of two ``(2p,)`` float32, ``x`` ``(1 + 2p,)``
  float32; returns ``(carry, angles)`` with ``angles`` ``(2p,)`` float32 (the new ``h``).

  Example:
    >>> cell = LSTMCell(p=1)
    >>> variables = cell.init(jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> carry, angles = cell.apply(variables, cell.initial_carry(), cell.dummy_input())
    >>> angles.shape, angles.dtype, variables["params"]["weight_ih"].shape
    ((2,), dtype('float32'), (8, 3))
  """
  p: int = 1
  variant: str = "reference"

  @property
  def hidden(self) -> int:
    return 2 * self.p

  def initial_carry(self, dtype=jnp.float32) -> LSTMCarry:
    z = jnp.zeros((self.hidden,), dtype)
    return LSTMCarry(z, z)

  def dummy_input(self, dtype=jnp.float32) -> jax.Array:
    return jnp.zeros((1 + 2 * self.p,), dtype)

  @nn.compact
  def __call__(self, carry: LSTMCarry, x: jax.Array):
    _check_input(x, self.p)
    H, I = self.hidden, 1 + 2 * self.p
    init = _torch_uniform(H)
    w_ih = self.param("weight_ih", init, (4 * H, I))
    w_hh = self.param("weight_hh", init, (4 * H, H))
    b_ih = self.param("bias_ih", init, (4 * H,))
    b_hh = self.param("bias_hh", init, (4 * H,))
    z = w_ih @ x + b_ih + w_hh @ carry.h + b_hh
    i, f, g, o = jnp.split(z, 4)
    c = jax.nn.sigmoid(f) * carry.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMCarry(h, c), h


class QuantumGateLSTMCell(nn.Module):
  """LSTM whose four gates are quantum circuits (QK-LSTM and QLSTM).

  ``v = [h_{t-1}, x_t]``; ``y = clayer_in(v)`` (``n_qubits`` values).

  * ``gate="qk"``, reference: each gate reads ``<Z_i>`` of the published identity
    circuit (:func:`jqmeta.circuits.qk_reference_gate`), then ONE shared
    ``clayer_out`` (``n_qubits -> hidden``) gives its pre-activation.
  * ``gate="qk"``, corrected: each gate is a fidelity-kernel gate
    ``sum_j alpha_j k(y, r_j) + b`` (:func:`jqmeta.kernels.kernel_gate`) with its own
    ``n_refs`` trainable references ``r_j`` ``(n_refs, n_qubits)``.
  * ``gate="vqc"`` (QLSTM): each gate runs :func:`jqmeta.circuits.qlstm_gate` (RX
    encoding + BasicEntanglerLayers) with its own ``(n_layers, n_qubits)`` weights,
    then the shared ``clayer_out``.  Reference: weights in the non-trainable
    ``"circuit"`` collection; corrected: trainable ``params``.

  f, i, o use sigmoid and g tanh; ``c = f c + i g``, ``h = o tanh(c)``; the
  ``mapping`` layer (``hidden -> 2p``) gives the angles, which are fed back.

  Shapes: ``carry`` :class:`LSTMCarry` of two ``(hidden,)`` float32, ``x`` ``(1 + 2p,)``
  float32; returns ``(carry, angles)`` with ``angles`` ``(2p,)`` float32.  QLSTM circuit
  weights are ``(4, n_layers, n_qubits)`` float32 (one block per gate).

  Example:
    >>> cell = QuantumGateLSTMCell(gate="vqc")  # reference QLSTM; eval_shape: shapes only
    >>> v = jax.eval_shape(cell.init, jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> carry, angles = jax.eval_shape(cell.apply, v, cell.initial_carry(), cell.dummy_input())
    >>> angles.shape, carry.h.shape, v["circuit"]["weights"].shape
    ((2,), (3,), (4, 1, 4))
  """
  gate: str = "qk"
  p: int = 1
  variant: str = "reference"
  hidden: int = 3
  n_qubits: int = 4
  n_refs: int = 4
  n_layers: int = 1

  def initial_carry(self, dtype=jnp.float32) -> LSTMCarry:
    z = jnp.zeros((self.hidden,), dtype)
    return LSTMCarry(z, z)

  def dummy_input(self, dtype=jnp.float32) -> jax.Array:
    return jnp.zeros((1 + 2 * self.p,), dtype)

  def _gate_preactivations(self, y: jax.Array) -> jax.Array:
    """``(4, hidden)`` pre-activations of the f, i, g, o gates (one vmapped circuit)."""
    nq, H = self.n_qubits, self.hidden
    if self.gate == "qk" and self.variant == "corrected":
      refs = self.param("kernel_refs", nn.initializers.uniform(math.pi), (4, self.n_refs, nq))
      alphas = self.param("kernel_alphas", _torch_uniform(self.n_refs), (4, self.n_refs, H))
      bias = self.param("kernel_bias", _torch_uniform(self.n_refs), (4, H))
      gate = lambda r, a, b: kernels.kernel_gate(y, r, a, b, lambda t: t)
      return jax.vmap(gate)(refs, alphas, bias)
    if self.gate == "qk":
      # The four published gate circuits are identical and see the same y: run it once.
      readouts = jnp.broadcast_to(circuits.qk_reference_gate(y), (4, nq))
    else:
      shape = (4, self.n_layers, nq)
      w_init = lambda key, s: jax.random.uniform(key, s, jnp.float32, 0.0, 2 * math.pi)
      if self.variant == "reference":
        rng = self.make_rng("params") if self.is_initializing() else None
        w = self.variable("circuit", "weights", w_init, rng, shape).value
      else:
        w = self.param("circuit_weights", w_init, shape)
      readouts = jax.vmap(circuits.qlstm_gate, in_axes=(None, 0))(y, w)
    return _linear(H, nq, "clayer_out")(readouts)

  @nn.compact
  def __call__(self, carry: LSTMCarry, x: jax.Array):
    _check_input(x, self.p)
    v = jnp.concatenate([carry.h, x])
    y = _linear(self.n_qubits, v.shape[0], "clayer_in")(v)
    f_, i_, g_, o_ = self._gate_preactivations(y)  # unpacks the gate axis
    c = jax.nn.sigmoid(f_) * carry.c + jax.nn.sigmoid(i_) * jnp.tanh(g_)
    h = jax.nn.sigmoid(o_) * jnp.tanh(c)
    angles = _linear(2 * self.p, self.hidden, MAPPING)(h)
    return LSTMCarry(h, c), angles


class QFWPCell(nn.Module):
  """Quantum fast-weight programmer.

  From ``x``: ``e = input_encoder(x)`` (``-> n_qubits``), ``r = slow_program_encoder(x)``
  (``-> n_qubits``), ``l = slow_program_layer_idx(r)`` (``-> depth``),
  ``q = slow_program_qubit_idx(r)`` (``-> n_qubits``); fast weights
  ``F = F_prev + outer(l, q)``; the circuit (:func:`jqmeta.circuits.fwp_circuit`) reads
  ``<Z_i>`` and ``post_mapping`` (``n_qubits -> 2p``) gives the angles.  Reference:
  ``F_prev`` is reset to zero every step (the published loop); corrected: carried.

  Shapes: ``carry`` :class:`FWPCarry` with ``fast`` ``(depth, n_qubits)`` float32, ``x``
  ``(1 + 2p,)`` float32; returns ``(carry, angles)`` with ``angles`` ``(2p,)`` float32.

  Example:
    >>> cell = QFWPCell(variant="corrected")  # eval_shape: shapes only, nothing runs
    >>> v = jax.eval_shape(cell.init, jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> carry, angles = jax.eval_shape(cell.apply, v, cell.initial_carry(), cell.dummy_input())
    >>> angles.shape, angles.dtype, carry.fast.shape
    ((2,), dtype('float32'), (1, 2))
  """
  p: int = 1
  variant: str = "reference"
  n_qubits: int = 2
  depth: int = 1

  def initial_carry(self, dtype=jnp.float32) -> FWPCarry:
    return FWPCarry(jnp.zeros((self.depth, self.n_qubits), dtype))

  def dummy_input(self, dtype=jnp.float32) -> jax.Array:
    return jnp.zeros((1 + 2 * self.p,), dtype)

  @nn.compact
  def __call__(self, carry: FWPCarry, x: jax.Array):
    _check_input(x, self.p)
    nq, I = self.n_qubits, x.shape[0]
    e = _linear(nq, I, "input_encoder")(x)
    r = _linear(nq, I, "slow_program_encoder")(x)
    layer = _linear(self.depth, nq, "slow_program_layer_idx")(r)
    qubit = _linear(nq, nq, "slow_program_qubit_idx")(r)
    previous = carry.fast if self.variant == "corrected" else jnp.zeros_like(carry.fast)
    fast = previous + jnp.outer(layer, qubit)
    readout = circuits.fwp_circuit(e, fast)
    angles = _linear(2 * self.p, nq, "post_mapping")(readout)
    return FWPCarry(fast), angles


def create(name: str, *, variant: str = "reference", p: int = 1, **options: Any) -> nn.Module:
  """Builds a learned-optimizer cell.

  Args:
    name: ``"lstm"``, ``"qk_lstm"``, ``"qlstm"`` or ``"qfwp"``.
    variant: ``"reference"`` (published, defects included) or ``"corrected"``.
    p: QAOA depth; the cell emits ``2p`` angles and reads ``1 + 2p`` inputs.
    **options: cell fields, e.g. ``hidden``, ``n_qubits``, ``n_refs`` (QK-LSTM kernel
      references), ``n_layers`` (QLSTM), ``depth`` (QFWP).

  Returns:
    A Flax module; see the module docstring for the call contract.

  Example:
    >>> cell = create("qk_lstm", variant="corrected", p=2, n_refs=6)
    >>> cell.dummy_input().shape
    (5,)
  """
  if name not in MODEL_NAMES:
    raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
  if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or p < 1:
    raise ValueError(f"depth p must be an integer >= 1, got {p!r}")
  for key, value in options.items():
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"option {key}={value!r} must be a positive integer")
  if name == "lstm":
    cls, kwargs = LSTMCell, {}
  elif name == "qfwp":
    cls, kwargs = QFWPCell, {}
  else:
    cls, kwargs = QuantumGateLSTMCell, {"gate": "qk" if name == "qk_lstm" else "vqc"}
  allowed = set(cls.__dataclass_fields__) - {"parent", "name", "p", "variant", "gate"}
  unknown = set(options) - allowed
  if unknown:
    raise ValueError(f"unknown option(s) {sorted(unknown)} for {name}; allowed: {sorted(allowed)}")
  return cls(p=int(p), variant=variant, **kwargs, **options)


def param_labels(params) -> Any:
  """Pytree of ``"mapping"`` / ``"sequence"`` labels (for ``optax.multi_transform``).

  Args:
    params: ``variables["params"]``, a dict pytree of arrays (any shapes and dtypes).

  Returns:
    A pytree with the structure of ``params`` and ``str`` leaves: ``"mapping"`` under
    the top-level ``mapping`` layer, ``"sequence"`` everywhere else.

  Example:
    >>> cell = create("qk_lstm")
    >>> v = jax.eval_shape(cell.init, jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> {name: labels["kernel"] for name, labels in param_labels(v["params"]).items()}
    {'clayer_in': 'sequence', 'clayer_out': 'sequence', 'mapping': 'mapping'}
  """
  return {k: jax.tree.map(lambda _: MAPPING if k == MAPPING else "sequence", v)
          for k, v in params.items()}


def count_params(params) -> dict[str, int]:
  """Counts trainable parameters: ``{"sequence": ..., "mapping": ..., "total": ...}``.

  ``params`` is ``variables["params"]`` (a dict pytree of arrays of any shape and
  dtype, or their ``jax.ShapeDtypeStruct``; each leaf counts ``np.size`` elements); the
  mapping group is the top-level ``mapping`` layer (QK-LSTM / QLSTM), everything else
  is the sequence model.  The counts are Python ``int``.

  Example:
    >>> cell = create("qk_lstm")
    >>> v = jax.eval_shape(cell.init, jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> count_params(v["params"])  # shapes are enough: nothing is initialised
    {'sequence': 43, 'mapping': 8, 'total': 51}
  """
  labels = jax.tree.leaves(param_labels(params))
  sizes = [int(np.size(x)) for x in jax.tree.leaves(params)]
  mapping = sum(s for s, lab in zip(sizes, labels) if lab == MAPPING)
  total = sum(sizes)
  return {"sequence": total - mapping, "mapping": mapping, "total": total}
