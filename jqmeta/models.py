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

Every cell also takes ``precision`` (:data:`PRECISIONS`), a static string:
``model.apply(variables, carry, x, precision="published")``.  ``"float32"`` (default)
computes in float32 with XLA's ordering.  ``"published"`` reproduces the published
PyTorch + PennyLane arithmetic: every float32 operation is evaluated exactly as IEEE
float32 would (computed in float64, then rounded: no FMA contraction, whatever the
batch shape), linear layers sum in ``torch.nn.Linear``'s order
``((x_0 W_0 + x_1 W_1) + ...) + b`` (the LSTM adds ``linear_hh(h) + linear_ih(x)``),
activations are correctly rounded, and the gate circuits run in complex128 with float32
readouts as on the simulator each published model used (:mod:`jqmeta.circuits`; the
corrected QK-LSTM's kernel gates, never published, in complex128 from the float32
inputs).  Inputs, outputs and carries stay float32.

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
Beyond the paper, ``create("graph_lstm")`` (:class:`GraphAwareLSTMCell`) also reads graph
features, so it can learn a graph-dependent schedule.

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
from flax.linen.dtypes import promote_dtype
from jax import lax

from jqmeta import circuits, kernels
from jqmeta._src import precision as prec
from jqmeta._src.validation import check_choice

__all__ = [
    "create", "count_params", "param_labels", "MODEL_NAMES", "VARIANTS", "PRECISIONS",
    "Linear", "LSTMCarry", "FWPCarry", "LSTMCell", "QuantumGateLSTMCell", "QFWPCell",
    "GraphAwareLSTMCell", "GRAPH_AWARE", "N_GRAPH_FEATURES",
]

MODEL_NAMES = ("lstm", "qk_lstm", "qlstm", "qfwp")
VARIANTS = ("reference", "corrected")
PRECISIONS = circuits.PRECISIONS
"""``("float32", "published")``: the arithmetic of a cell call (module docstring)."""
GRAPH_AWARE = "graph_lstm"  # create() name of GraphAwareLSTMCell; not one of the paper's
N_GRAPH_FEATURES = 6  # length of jqmeta.meta.graph_features
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


def _published(precision: str) -> bool:
  return check_choice("precision", precision, PRECISIONS) == "published"


def _f32_ops(fn: Callable, *xs: jax.Array):
  """``fn`` on float32 values in float64; ``fn`` rounds each of its own operations.

  Returns ``fn``'s outputs (an array or a tuple) as float32.
  """
  def island(*xs):
    out = fn(*(prec.round_f32(x.astype(jnp.float64)) for x in xs))
    return jax.tree.map(prec.to_f32, out)
  return prec.float64_island(island)(*[jnp.asarray(x) for x in xs])


def _torch_linear(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
  """``torch.nn.Linear`` in float32: ``((x_0 W_0 + x_1 W_1) + ...) + b``, each op rounded."""
  def linear(x, k, b):
    r = prec.round_f32
    acc = r(x[..., :1] * k[0])
    for i in range(1, k.shape[0]):
      acc = r(acc + r(x[..., i:i + 1] * k[i]))
    return r(acc + b)
  return _f32_ops(linear, x, kernel, bias)


class Linear(nn.Module):
  """``torch.nn.Linear(fan_in, features)`` as a Flax layer (``kernel`` is the torch weight.T).

  Params ``kernel (in, features)`` and ``bias (features,)``, float32, initialised like
  torch (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``).  ``precision="float32"`` computes
  ``x @ kernel + bias`` exactly as ``flax.linen.Dense``; ``"published"`` sums in torch's
  order with every float32 operation rounded (see the module docstring).

  Shapes: ``x`` ``(..., in)`` float32; returns ``(..., features)`` float32.

  Example:
    >>> layer = Linear(2, fan_in=3)
    >>> v = layer.init(jax.random.key(0), jnp.ones(3))
    >>> layer.apply(v, jnp.ones(3), precision="published").shape, v["params"]["kernel"].shape
    ((2,), (3, 2))
  """
  features: int
  fan_in: int

  @nn.compact
  def __call__(self, x: jax.Array, precision: str = "float32") -> jax.Array:
    init = _torch_uniform(self.fan_in)
    kernel = self.param("kernel", init, (jnp.shape(x)[-1], self.features), jnp.float32)
    bias = self.param("bias", init, (self.features,), jnp.float32)
    if _published(precision):
      return _torch_linear(x, kernel, bias)
    x, kernel, bias = promote_dtype(x, kernel, bias)
    y = lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))
    return y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))


def _linear(features: int, fan_in: int, name: str) -> Linear:
  """A :class:`Linear` layer called ``name`` (params ``kernel``/``bias``, as ``nn.Dense``)."""
  return Linear(features, fan_in, name=name)


def _lstm_update(f, i, g, o, c, published: bool):
  """``c = sig(f) c + sig(i) tanh(g)``, ``h = sig(o) tanh(c)``; returns ``(h, c)``.

  Published: torch's ``(sig(f) * c) + (sig(i) * tanh(g))``, every operation rounded.
  """
  if not published:
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c

  def update(f, i, g, o, c):
    r, sig = prec.round_f32, jax.nn.sigmoid
    c = r(r(r(sig(f)) * c) + r(r(sig(i)) * r(jnp.tanh(g))))
    return r(r(sig(o)) * r(jnp.tanh(c))), c
  return _f32_ops(update, f, i, g, o, c)


class _Cell(nn.Module):
  """What every learned-optimizer cell shares: depth ``p``, ``variant``, the input shape."""
  p: int = 1
  variant: str = "reference"

  def dummy_input(self, dtype=jnp.float32) -> jax.Array:
    """A zero input ``(1 + 2p,)``: the published start (cost 0, angles 0)."""
    return jnp.zeros((1 + 2 * self.p,), dtype)

  def _begin(self, x: jax.Array, precision: str) -> bool:
    """Checks the input ``(1 + 2p,)`` and returns whether ``precision`` is published."""
    chex.assert_shape(x, (1 + 2 * self.p,))
    return _published(precision)


class LSTMCell(_Cell):
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
  @property
  def hidden(self) -> int:
    return 2 * self.p

  def initial_carry(self, dtype=jnp.float32) -> LSTMCarry:
    z = jnp.zeros((self.hidden,), dtype)
    return LSTMCarry(z, z)

  @nn.compact
  def __call__(self, carry: LSTMCarry, x: jax.Array, precision: str = "float32"):
    published = self._begin(x, precision)
    H, I = self.hidden, 1 + 2 * self.p
    init = _torch_uniform(H)
    w_ih = self.param("weight_ih", init, (4 * H, I))
    w_hh = self.param("weight_hh", init, (4 * H, H))
    b_ih = self.param("bias_ih", init, (4 * H,))
    b_hh = self.param("bias_hh", init, (4 * H,))
    if published:  # torch: linear_hh(h) + linear_ih(x)
      z = _f32_ops(lambda a, b: prec.round_f32(a + b), _torch_linear(carry.h, w_hh.T, b_hh),
                   _torch_linear(x, w_ih.T, b_ih))
    else:
      z = w_ih @ x + b_ih + w_hh @ carry.h + b_hh
    i, f, g, o = jnp.split(z, 4)
    h, c = _lstm_update(f, i, g, o, carry.c, published)
    return LSTMCarry(h, c), h


class QuantumGateLSTMCell(_Cell):
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
  hidden: int = 3
  n_qubits: int = 4
  n_refs: int = 4
  n_layers: int = 1

  def initial_carry(self, dtype=jnp.float32) -> LSTMCarry:
    z = jnp.zeros((self.hidden,), dtype)
    return LSTMCarry(z, z)

  def _gate_preactivations(self, y: jax.Array, precision: str) -> jax.Array:
    """``(4, hidden)`` pre-activations of the f, i, g, o gates (one vmapped circuit)."""
    nq, H = self.n_qubits, self.hidden
    if self.gate == "qk" and self.variant == "corrected":
      refs = self.param("kernel_refs", nn.initializers.uniform(math.pi), (4, self.n_refs, nq))
      alphas = self.param("kernel_alphas", _torch_uniform(self.n_refs), (4, self.n_refs, H))
      bias = self.param("kernel_bias", _torch_uniform(self.n_refs), (4, H))
      if _published(precision):
        return jax.vmap(_torch_linear)(_kernel_features_f64(y, refs), alphas, bias)
      gate = lambda r, a, b: kernels.kernel_gate(y, r, a, b, lambda t: t)
      return jax.vmap(gate)(refs, alphas, bias)
    if self.gate == "qk":
      # The four published gate circuits are identical and see the same y: run it once.
      readouts = jnp.broadcast_to(circuits.qk_reference_gate(y, precision=precision), (4, nq))
    else:
      shape = (4, self.n_layers, nq)
      w_init = lambda key, s: jax.random.uniform(key, s, jnp.float32, 0.0, 2 * math.pi)
      if self.variant == "reference":
        rng = self.make_rng("params") if self.is_initializing() else None
        w = self.variable("circuit", "weights", w_init, rng, shape).value
      else:
        w = self.param("circuit_weights", w_init, shape)
      gate = lambda y, w: circuits.qlstm_gate(y, w, precision=precision)
      readouts = jax.vmap(gate, in_axes=(None, 0))(y, w)
    return _linear(H, nq, "clayer_out")(readouts, precision)

  @nn.compact
  def __call__(self, carry: LSTMCarry, x: jax.Array, precision: str = "float32"):
    published = self._begin(x, precision)
    v = jnp.concatenate([carry.h, x])
    y = _linear(self.n_qubits, v.shape[0], "clayer_in")(v, precision)
    f_, i_, g_, o_ = self._gate_preactivations(y, precision)  # unpacks the gate axis
    h, c = _lstm_update(f_, i_, g_, o_, carry.c, published)
    angles = _linear(2 * self.p, self.hidden, MAPPING)(h, precision)
    return LSTMCarry(h, c), angles


def _kernel_features_f64(y: jax.Array, refs: jax.Array) -> jax.Array:
  """``(4, n_refs)`` fidelity-kernel features in complex128, rounded to float32.

  The corrected kernel gates were never published; :mod:`jqmeta.kernels` has no float32
  coefficient option, so their circuits take the float32 inputs exactly in float64.
  """
  def island(y, refs):
    feats = jax.vmap(kernels.kernel_features, in_axes=(None, 0))(
        y.astype(jnp.float64), refs.astype(jnp.float64))
    return prec.to_f32(feats)
  return prec.float64_island(island)(jnp.asarray(y), jnp.asarray(refs))


class QFWPCell(_Cell):
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
  n_qubits: int = 2
  depth: int = 1

  def initial_carry(self, dtype=jnp.float32) -> FWPCarry:
    return FWPCarry(jnp.zeros((self.depth, self.n_qubits), dtype))

  @nn.compact
  def __call__(self, carry: FWPCarry, x: jax.Array, precision: str = "float32"):
    published = self._begin(x, precision)
    nq, I = self.n_qubits, x.shape[0]
    e = _linear(nq, I, "input_encoder")(x, precision)
    r = _linear(nq, I, "slow_program_encoder")(x, precision)
    layer = _linear(self.depth, nq, "slow_program_layer_idx")(r, precision)
    qubit = _linear(nq, nq, "slow_program_qubit_idx")(r, precision)
    previous = carry.fast if self.variant == "corrected" else jnp.zeros_like(carry.fast)
    if published:
      r32 = prec.round_f32
      fast = _f32_ops(lambda p, l, q: r32(p + r32(jnp.outer(l, q))), previous, layer, qubit)
    else:
      fast = previous + jnp.outer(layer, qubit)
    readout = circuits.fwp_circuit(e, fast, precision=precision)
    angles = _linear(2 * self.p, nq, "post_mapping")(readout, precision)
    return FWPCarry(fast), angles


class GraphAwareLSTMCell(_Cell):
  """LSTM that also reads graph features: ``x = [cost, a, f]``, ``f`` ``(6,)``.

  ``f``: :func:`jqmeta.meta.graph_features` (fixed normalisation), appended by
  :func:`jqmeta.meta.phase1` because the cell has ``n_graph_features``.  Gates
  ``gates([h, x])`` (i, f, g, o); ``mapping`` (``hidden -> 2p``) gives the angles.
  Both variants are the same cell (no published defects to keep).

  Shapes: ``carry`` :class:`LSTMCarry` of two ``(hidden,)`` float32, ``x``
  ``(1 + 2p + 6,)`` float32; returns ``(carry, angles)`` with ``angles`` ``(2p,)``.

  Example:
    >>> cell = create(GRAPH_AWARE, p=2)
    >>> v = cell.init(jax.random.key(0), cell.initial_carry(), cell.dummy_input())
    >>> cell.apply(v, cell.initial_carry(), cell.dummy_input())[1].shape, cell.dummy_input().shape
    ((4,), (11,))
  """
  hidden: int = 8
  n_graph_features = N_GRAPH_FEATURES  # a class constant, not a field

  def initial_carry(self, dtype=jnp.float32) -> LSTMCarry:
    z = jnp.zeros((self.hidden,), dtype)
    return LSTMCarry(z, z)

  def dummy_input(self, dtype=jnp.float32) -> jax.Array:
    return jnp.zeros((1 + 2 * self.p + self.n_graph_features,), dtype)

  @nn.compact
  def __call__(self, carry: LSTMCarry, x: jax.Array, precision: str = "float32"):
    chex.assert_shape(x, (1 + 2 * self.p + self.n_graph_features,))
    published = _published(precision)
    v = jnp.concatenate([carry.h, x])
    z = _linear(4 * self.hidden, v.shape[0], "gates")(v, precision)
    i, f, g, o = jnp.split(z, 4)
    h, c = _lstm_update(f, i, g, o, carry.c, published)
    return LSTMCarry(h, c), _linear(2 * self.p, self.hidden, MAPPING)(h, precision)


def create(name: str, *, variant: str = "reference", p: int = 1, **options: Any) -> nn.Module:
  """Builds a learned-optimizer cell.

  Args:
    name: ``"lstm"``, ``"qk_lstm"``, ``"qlstm"``, ``"qfwp"`` or ``"graph_lstm"``.
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
  if name not in MODEL_NAMES + (GRAPH_AWARE,):
    raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES + (GRAPH_AWARE,)}")
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
  elif name == GRAPH_AWARE:
    cls, kwargs = GraphAwareLSTMCell, {}
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
