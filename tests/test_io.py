"""Tests for jqmeta.io: safe dataset loading, native format, checkpoints."""

from __future__ import annotations

import builtins
import collections
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from jqmeta import io
from jqmeta._src import datasets

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CKPT = REF / "checkpoints"

# Published checkpoint stem -> model (file names from the paper's release).
CHECKPOINTS = {
    "2D_QAOA_FWP_6e-06_0.0001": "qfwp",
    "2D_QAOA_LSTM_6e-06_0.0001": "lstm",
    "2D_QAOA_QK_6e-06_0.0001": "qk_lstm",
    "2D_QAOA_VQC_6e-06_0.0001": "qlstm",
    "best_FWP_model_2D_QAOA": "qfwp",
    "best_LSTM_model_2D_QAOA": "lstm",
    "best_QK_model_6e-6": "qk_lstm",
    "best_VQC_model_2D_QAOA": "qlstm",
}
PARAM_COUNTS = {"lstm": 56, "qk_lstm": 51, "qlstm": 51, "qfwp": 31}


def _need_reference() -> Path:
  if not REF.is_dir():
    pytest.skip(f"reference data folder {REF} is missing (published artefacts not available)")
  return REF


def _same_graph(a: nx.Graph, b: nx.Graph) -> None:
  """Asserts identical node order, edge order/orientation, attributes and types."""
  assert type(b) is nx.Graph
  assert list(a.nodes(data=True)) == list(b.nodes(data=True))
  assert [type(n) for n in a.nodes] == [type(n) for n in b.nodes]
  assert list(a.edges(data=True)) == list(b.edges(data=True))
  for (_, _, da), (_, _, db) in zip(a.edges(data=True), b.edges(data=True)):
    assert {k: type(v) for k, v in da.items()} == {k: type(v) for k, v in db.items()}
  assert a.graph == b.graph


def _same_splits(a: dict, b: dict) -> None:
  assert list(a) == list(b)
  for k in a:
    assert len(a[k]) == len(b[k]), k
    for ga, gb in zip(a[k], b[k]):
      _same_graph(ga, gb)


# ----------------------------------------------------------------------------
# The reference datasets.pkl.
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_splits():
  return io.load_reference_dataset(_need_reference() / "datasets.pkl")


def test_reference_dir_matches_project_layout():
  assert io.reference_dir() == REF


def test_reference_split_sizes(reference_splits):
  assert list(reference_splits) == ["train_data", "val_data", "test_data"]
  assert [len(v) for v in reference_splits.values()] == [1008, 5, 90]


def test_reference_node_count_histograms(reference_splits):
  def hist(split):
    sizes = collections.Counter(g.number_of_nodes() for g in reference_splits[split])
    return dict(sorted(sizes.items()))

  assert hist("train_data") == {6: 168, 7: 224, 8: 280, 9: 336}
  assert hist("val_data") == {10: 5}
  assert hist("test_data") == {10: 14, 11: 16, 12: 18, 13: 20, 14: 22}


def test_reference_graphs_are_plain(reference_splits):
  for graphs in reference_splits.values():
    for g in graphs:
      assert type(g) is nx.Graph
      assert list(g.nodes) == list(range(g.number_of_nodes()))
      assert all(not d for _, d in g.nodes(data=True))
      assert all(not d for _, _, d in g.edges(data=True))
      assert nx.number_of_selfloops(g) == 0
      assert g.number_of_edges() > 0


def test_reference_pickle_references_only_allowed_globals():
  seen = []

  class Recorder(datasets.GraphUnpickler):

    def find_class(self, module, name):
      seen.append((module, name))
      return super().find_class(module, name)

  with (_need_reference() / "datasets.pkl").open("rb") as f:
    raw = Recorder(f).load()
  # The rebuilt graphs keep even the pickled adjacency order of every node.
  loaded = io.load_reference_dataset(REF / "datasets.pkl")
  for split, graphs in raw.items():
    for r, g in zip(graphs, loaded[split]):
      assert list(r.edges) == list(g.edges)
      assert [list(r.adj[n]) for n in r] == [list(g.adj[n]) for n in g]
  assert sorted(seen) == [
      ("networkx.classes.graph", "Graph"),
      ("networkx.classes.reportviews", "DegreeView"),
      ("networkx.classes.reportviews", "EdgeView"),
      ("networkx.classes.reportviews", "NodeView"),
  ]


def test_convert_reference_round_trip(reference_splits, tmp_path):
  out = io.convert_reference_dataset(REF / "datasets.pkl", tmp_path / "ref.json")
  assert out == tmp_path / "ref.json"
  loaded = io.load_dataset(out)
  _same_splits(reference_splits, loaded)
  again = io.load_reference_dataset(out)
  _same_splits(reference_splits, again)
  json.loads(out.read_text())  # Strict JSON.


# ----------------------------------------------------------------------------
# Malicious pickles.
# ----------------------------------------------------------------------------


class _Payload:
  """Pickles as an arbitrary ``(callable, args)`` reduction."""

  def __init__(self, func, args):
    self.func, self.args = func, args

  def __reduce__(self):
    return self.func, self.args


def _os_system(marker: Path):
  return _Payload(os.system, (f"touch '{marker}'",))


def _builtins_eval(marker: Path):
  return _Payload(builtins.eval, (f"__import__('pathlib').Path({str(marker)!r}).touch()",))


def _subprocess_run(marker: Path):
  return _Payload(subprocess.run, (["touch", str(marker)],))


PAYLOADS = {
    "os.system": (_os_system, "system"),
    "builtins.eval": (_builtins_eval, "builtins.eval"),
    "subprocess.run": (_subprocess_run, "subprocess.run"),
}


def _evil_dataset(make, marker: Path) -> bytes:
  return pickle.dumps({
      "train_data": [nx.path_graph(3), make(marker)],
      "val_data": [],
      "test_data": [],
  })


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
def test_payload_is_live_under_plain_pickle(kind, tmp_path):
  # Control: the payload really runs code when loaded unsafely, so the
  # refusal test below would catch a leaky unpickler.
  make, _ = PAYLOADS[kind]
  control = tmp_path / "control_marker"
  pickle.loads(_evil_dataset(make, control))
  assert control.exists()


@pytest.mark.parametrize("kind", sorted(PAYLOADS))
@pytest.mark.parametrize("loader", [io.load_dataset, io.load_reference_dataset])
def test_malicious_pickle_is_refused(kind, loader, tmp_path):
  make, fragment = PAYLOADS[kind]
  marker = tmp_path / "marker"
  path = tmp_path / "datasets.pkl"
  path.write_bytes(_evil_dataset(make, marker))
  with pytest.raises(io.UnsafePickleError, match="refusing to load global") as info:
    loader(path)
  assert fragment in str(info.value)
  assert isinstance(info.value, ValueError)
  assert not marker.exists()


@pytest.mark.parametrize(
    "payload, refused",
    [
        # Protocol 0 text pickles, hand-written.
        (
            b"cbuiltins\ngetattr\n(cnetworkx.classes.graph\nGraph\nS'__init__'\ntR.",
            "builtins.getattr",
        ),
        (b"cposix\nsystem\n(S'true'\ntR.", "posix.system"),
        (b"cnetworkx.readwrite.gml\nread_gml\n(S'x'\ntR.", "networkx.readwrite.gml.read_gml"),
        (b"cnumpy\nload\n(S'x'\ntR.", "numpy.load"),
    ],
)
def test_handwritten_globals_are_refused(payload, refused, tmp_path):
  path = tmp_path / "x.pkl"
  path.write_bytes(payload)
  with pytest.raises(io.UnsafePickleError, match=refused.replace(".", r"\.")):
    io.load_dataset(path)


def test_persistent_id_is_refused(tmp_path):
  path = tmp_path / "x.pkl"
  path.write_bytes(b"\x80\x04\x8c\x03abc\x94Q.")  # BINPERSID
  with pytest.raises(io.UnsafePickleError, match="persistent id"):
    io.load_dataset(path)


@pytest.mark.parametrize(
    "graph, refused",
    [
        (nx.DiGraph([(0, 1)]), "DiGraph"),
        (nx.MultiGraph([(0, 1)]), "MultiGraph"),
    ],
)
def test_other_graph_classes_are_refused(graph, refused, tmp_path):
  path = tmp_path / "x.pkl"
  path.write_bytes(pickle.dumps({"a": [graph]}))
  with pytest.raises(io.UnsafePickleError, match=refused):
    io.load_dataset(path)


def test_numpy_scalars_in_pickle_are_refused(tmp_path):
  g = nx.Graph()
  g.add_edge(0, 1, weight=np.float64(0.5))
  path = tmp_path / "x.pkl"
  path.write_bytes(pickle.dumps({"a": [g]}))
  with pytest.raises(io.UnsafePickleError, match="numpy"):
    io.load_dataset(path)


def test_old_protocol_reconstructor_is_refused(tmp_path):
  path = tmp_path / "x.pkl"
  path.write_bytes(pickle.dumps({"a": [nx.path_graph(2)]}, protocol=0))
  with pytest.raises(io.UnsafePickleError, match="_reconstructor"):
    io.load_dataset(path)


# ----------------------------------------------------------------------------
# Honest pickles of user graphs.
# ----------------------------------------------------------------------------


def _sample_graphs() -> list[nx.Graph]:
  weighted = nx.Graph()
  weighted.add_nodes_from([3, 1, 2, 0])  # Non-sorted node order.
  weighted.add_edge(2, 3, weight=0.1)
  weighted.add_edge(1, 3, weight=1 / 3)
  weighted.add_edge(0, 1, weight=-2.5)
  weighted.add_edge(0, 2, weight=1e-300)
  weighted.add_edge(2, 1, weight=7)  # int weight stays int.

  strings = nx.Graph()
  strings.add_edge("b", "a")
  strings.add_edge("a", "c", weight=0.25)  # Mixed weighted/unweighted edges.
  strings.add_node("lonely")

  mixed = nx.Graph(name="mixed", seed=3)
  mixed.add_node(5, pos=1.5, tag="x", flag=True, none=None)
  mixed.add_edge(5, "five", weight=2.0, kind="bridge")
  mixed.add_edge(0, 0)  # Self-loop.

  empty_edges = nx.empty_graph(4)
  no_nodes = nx.Graph()
  unweighted = nx.cycle_graph(5)
  big_ints = nx.Graph([(2**70, -(2**40))])
  return [weighted, strings, mixed, empty_edges, no_nodes, unweighted, big_ints]


def test_honest_pickle_with_cached_views_loads_identically(tmp_path):
  graphs = _sample_graphs()
  for g in graphs:  # Fill every cached view so the pickle carries them.
    _ = g.nodes, g.edges, g.degree, g.adj
  splits = {"train_data": graphs[:4], "val_data": graphs[4:5], "test_data": graphs[5:]}
  path = tmp_path / "mine.pkl"
  path.write_bytes(pickle.dumps(splits))
  loaded = io.load_reference_dataset(path)
  _same_splits(splits, loaded)
  for a, b in zip(graphs, loaded["train_data"] + loaded["val_data"] + loaded["test_data"]):
    assert a is not b
    # Same neighbourhoods (their order may be canonicalised, see the module
    # docstring), and the views describe the new graph.
    assert [set(a.adj[n]) for n in a] == [set(b.adj[n]) for n in b]
    assert dict(b.degree) == dict(a.degree)


def test_asymmetric_adjacency_in_pickle_is_rejected(tmp_path):
  g = nx.path_graph(3)
  del g._adj[1][0]  # pylint: disable=protected-access
  path = tmp_path / "bad.pkl"
  path.write_bytes(pickle.dumps({"a": [g]}))
  with pytest.raises(ValueError, match="not symmetric"):
    io.load_dataset(path)


def test_malformed_graph_internals_are_rejected(tmp_path):
  g = nx.path_graph(3)
  g._node = [0, 1, 2]  # pylint: disable=protected-access
  path = tmp_path / "bad.pkl"
  path.write_bytes(pickle.dumps({"a": [g]}))
  with pytest.raises(ValueError, match="'_node'"):
    io.load_dataset(path)


# ----------------------------------------------------------------------------
# Native JSON format.
# ----------------------------------------------------------------------------


def test_native_round_trip(tmp_path):
  graphs = _sample_graphs()
  splits = {"train": graphs[:3], "val": graphs[3:5], "other split": graphs[5:], "empty": []}
  path = io.save_dataset(tmp_path / "sub" / "d.json", splits)
  assert path == tmp_path / "sub" / "d.json"
  loaded = io.load_dataset(path)
  _same_splits(splits, loaded)
  assert loaded["train"][0].edges[1, 3]["weight"] == 1 / 3
  assert type(loaded["train"][0].edges[2, 1]["weight"]) is int
  assert list(loaded["train"][1].nodes) == ["b", "a", "c", "lonely"]
  assert loaded["val"][0].number_of_nodes() == 4 and loaded["val"][0].number_of_edges() == 0
  assert not list(tmp_path.joinpath("sub").glob(".*.tmp"))  # Temp file cleaned.


def test_native_round_trip_preserves_edge_orientation(tmp_path):
  g = nx.Graph()
  g.add_nodes_from([0, 1, 2])
  g.add_edge(2, 0)
  g.add_edge(1, 0)
  g.add_edge(2, 1)
  io.save_dataset(tmp_path / "d.json", {"s": [g]})
  h = io.load_dataset(tmp_path / "d.json")["s"][0]
  assert list(h.edges) == list(g.edges) == [(0, 2), (0, 1), (1, 2)]


def test_numpy_values_are_stored_as_python_numbers(tmp_path):
  g = nx.Graph()
  g.add_node(np.int64(0))
  g.add_edge(np.int64(0), np.int64(1), weight=np.float32(0.1), n=np.int16(3), b=np.bool_(True))
  io.save_dataset(tmp_path / "d.json", {"s": [g]})
  h = io.load_dataset(tmp_path / "d.json")["s"][0]
  assert list(h.nodes) == [0, 1] and all(type(n) is int for n in h)
  d = h.edges[0, 1]
  assert d == {"weight": float(np.float32(0.1)), "n": 3, "b": True}
  assert (type(d["weight"]), type(d["n"]), type(d["b"])) == (float, int, bool)


def test_save_overwrites_atomically(tmp_path):
  path = tmp_path / "d.json"
  io.save_dataset(path, {"s": [nx.path_graph(2)]})
  io.save_dataset(path, {"t": [nx.path_graph(3)]})
  assert list(io.load_dataset(path)) == ["t"]


@pytest.mark.parametrize(
    "splits, exc, match",
    [
        ({"s": [nx.DiGraph([(0, 1)])]}, ValueError, "DiGraph"),
        ({"s": [nx.MultiGraph([(0, 1)])]}, ValueError, "MultiGraph"),
        ({"s": [nx.Graph([((0, 1), 2)])]}, TypeError, r"node label \(0, 1\)"),
        ({"s": [nx.Graph([(1.5, 2)])]}, TypeError, "node label 1.5"),
        ({"s": [nx.Graph([(True, 2)])]}, TypeError, "node label True"),
        ({"s": [nx.path_graph(2), "not a graph"]}, TypeError, r"s\[1\]: expected a networkx.Graph"),
        ({"s": nx.path_graph(2)}, TypeError, "must be a list of graphs"),
        ({1: [nx.path_graph(2)]}, TypeError, "split names must be str"),
        ([nx.path_graph(2)], TypeError, "splits must be a mapping"),
    ],
)
def test_save_rejects_bad_input(splits, exc, match, tmp_path):
  with pytest.raises(exc, match=match):
    io.save_dataset(tmp_path / "d.json", splits)
  assert not (tmp_path / "d.json").exists()


@pytest.mark.parametrize(
    "value, exc", [(math.nan, ValueError), (math.inf, ValueError), ([1, 2], TypeError)]
)
def test_save_rejects_bad_attribute_values(value, exc, tmp_path):
  g = nx.Graph()
  g.add_edge(0, 1, weight=value)
  with pytest.raises(exc, match="weight"):
    io.save_dataset(tmp_path / "d.json", {"s": [g]})


def test_save_requires_json_extension(tmp_path):
  with pytest.raises(ValueError, match=r"\.json"):
    io.save_dataset(tmp_path / "d.npz", {"s": [nx.path_graph(2)]})


# ----------------------------------------------------------------------------
# Bad dataset files.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["missing.pkl", "missing.json"])
@pytest.mark.parametrize("loader", [io.load_dataset, io.load_reference_dataset])
def test_missing_file(name, loader, tmp_path):
  with pytest.raises(FileNotFoundError, match="missing"):
    loader(tmp_path / name)


def test_path_type_is_checked():
  with pytest.raises(TypeError, match="os.PathLike"):
    io.load_dataset(123)


@pytest.mark.parametrize(
    "name, match", [("d.npz", "not a dataset format"), ("d.txt", "unknown dataset extension")]
)
def test_unknown_extensions(name, match, tmp_path):
  (tmp_path / name).write_bytes(b"x")
  with pytest.raises(ValueError, match=match):
    io.load_dataset(tmp_path / name)


@pytest.mark.parametrize(
    "obj, exc, match",
    [
        ([nx.path_graph(2)], ValueError, "expected a dict"),
        ({"train_data": nx.path_graph(2)}, ValueError, "must be a list of graphs"),
        ({"train_data": [1]}, TypeError, r"train_data\[0\]: expected a networkx.Graph, got int"),
        ({"train_data": [{"nodes": []}]}, TypeError, "got dict"),
        ({3: []}, ValueError, "split names must be str"),
    ],
)
def test_pickle_with_wrong_structure(obj, exc, match, tmp_path):
  path = tmp_path / "d.pkl"
  path.write_bytes(pickle.dumps(obj))
  with pytest.raises(exc, match=match):
    io.load_dataset(path)


def test_reference_loader_requires_exact_splits(tmp_path):
  path = tmp_path / "d.pkl"
  path.write_bytes(pickle.dumps({"train_data": [], "val_data": [], "extra": []}))
  with pytest.raises(ValueError, match=r"missing \['test_data'\], unexpected \['extra'\]"):
    io.load_reference_dataset(path)
  io.save_dataset(tmp_path / "d.json", {"train_data": [], "val_data": []})
  with pytest.raises(ValueError, match="missing"):
    io.load_reference_dataset(tmp_path / "d.json")


def test_truncated_pickle(tmp_path):
  path = tmp_path / "d.pkl"
  path.write_bytes(pickle.dumps({"a": [nx.path_graph(4)]})[:-10])
  with pytest.raises(ValueError, match="not a readable graph-dataset pickle"):
    io.load_dataset(path)


def _doc(graphs, **overrides):
  doc = {
      "format": io.DATASET_FORMAT,
      "version": io.DATASET_VERSION,
      "splits": {"s": graphs},
  }
  doc.update(overrides)
  return json.dumps(doc)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not a valid JSON dataset"),
        ("[1, 2]", "not a jqmeta dataset"),
        (_doc([], format="other"), "not a jqmeta dataset"),
        (_doc([], version=99), "unsupported dataset version 99"),
        (_doc({"a": 1}), "must be a list of graphs"),
        (_doc([[0, 1]]), "'nodes' and 'edges'"),
        (_doc([{"nodes": [0, 0], "edges": []}]), "duplicate node"),
        (_doc([{"nodes": [0, True], "edges": []}]), "node label True"),
        (_doc([{"nodes": [0, 1.5], "edges": []}]), "node label 1.5"),
        (_doc([{"nodes": [0, 1], "edges": [[0, 2]]}]), "unknown node"),
        (_doc([{"nodes": [0, 1], "edges": [[0, "1"]]}]), "unknown node"),
        (_doc([{"nodes": [0, 1], "edges": [[0, 1], [1, 0]]}]), "duplicate edge"),
        (_doc([{"nodes": [0, 1], "edges": [[0]]}]), "must be"),
        (_doc([{"nodes": [0, 1], "edges": [[0, 1, [1]]]}]), "JSON object"),
        (_doc([{"nodes": [0, 1], "edges": [[0, 1, {"w": [1]}]]}]), "unsupported value"),
        (_doc([{"nodes": [0], "edges": [], "node_attrs": []}]), "one object per node"),
        (_doc([{"nodes": [0], "edges": [], "extra": 1}]), "unknown graph fields"),
        ('{"format": "jqmeta.dataset", "version": 1, "splits": {"s": [{"nodes": [0, 1], '
         '"edges": [[0, 1, {"weight": NaN}]]}]}}', "NaN"),
    ],
)
def test_bad_json_files(text, match, tmp_path):
  path = tmp_path / "d.json"
  path.write_text(text)
  with pytest.raises(ValueError, match=match):
    io.load_dataset(path)


# ----------------------------------------------------------------------------
# Checkpoints.
# ----------------------------------------------------------------------------


def test_published_checkpoint_set_is_covered():
  names = {p.name for p in _need_reference().joinpath("checkpoints").iterdir()}
  assert names == {f"{s}{ext}" for s in CHECKPOINTS for ext in (".pth", ".npz")}


@pytest.mark.parametrize("stem", sorted(CHECKPOINTS))
def test_published_checkpoint_pth_equals_npz(stem):
  pytest.importorskip("torch", reason="torch is needed to read .pth checkpoints")
  _need_reference()
  pth = io.read_state_dict(CKPT / f"{stem}.pth")
  npz = io.read_state_dict(CKPT / f"{stem}.npz")
  assert list(pth) == list(npz)
  for k in pth:
    assert pth[k].dtype == np.float32 and npz[k].dtype == np.float32
    assert pth[k].shape == npz[k].shape
    np.testing.assert_array_equal(pth[k], npz[k])
    assert pth[k].flags.c_contiguous and pth[k].flags.writeable


@pytest.mark.parametrize("stem", sorted(CHECKPOINTS))
def test_published_checkpoint_model_name(stem):
  _need_reference()
  sd = io.read_state_dict(CKPT / f"{stem}.npz")
  model = CHECKPOINTS[stem]
  assert io.infer_model_name(sd, filename=f"{stem}.npz") == model
  assert io.infer_model_name(list(sd), filename=CKPT / f"{stem}.pth") == model
  assert sum(v.size for v in sd.values()) == PARAM_COUNTS[model]
  if model in ("qk_lstm", "qlstm"):
    with pytest.raises(ValueError, match="ambiguous checkpoint"):
      io.infer_model_name(sd)
  else:
    assert io.infer_model_name(sd) == model


def test_published_lstm_shapes():
  _need_reference()
  sd = io.read_state_dict(CKPT / "best_LSTM_model_2D_QAOA.npz")
  assert {k: v.shape for k, v in sd.items()} == {
      "lstm.weight_ih_l0": (8, 3),
      "lstm.weight_hh_l0": (8, 2),
      "lstm.bias_ih_l0": (8,),
      "lstm.bias_hh_l0": (8,),
  }


_VQC = ["lstm.clayer_in.weight", "lstm.clayer_in.bias", "lstm.clayer_out.weight",
        "lstm.clayer_out.bias", "mapping.weight", "mapping.bias"]


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("best_QK_model_6e-6.pth", "qk_lstm"),
        ("/some/dir/qk-lstm.npz", "qk_lstm"),
        ("best_VQC_model_2D_QAOA.pth", "qlstm"),
        ("my_qlstm_run.npz", "qlstm"),
    ],
)
def test_infer_model_name_from_filename(filename, expected):
  assert io.infer_model_name(_VQC, filename=filename) == expected


@pytest.mark.parametrize(
    "filename, says",
    [("model.pth", "neither"), ("QK_vs_VQC.pth", "both"), ("QKV.pth", "neither")],
)
def test_infer_model_name_ambiguous_filename(filename, says):
  with pytest.raises(ValueError, match=says):
    io.infer_model_name(_VQC, filename=filename)


def test_infer_model_name_errors():
  with pytest.raises(ValueError, match="ambiguous checkpoint: QK-LSTM and QLSTM"):
    io.infer_model_name(_VQC)
  listed = r"unknown checkpoint key set \['foo.weight', 'lstm.weight_ih_l0'\]"
  with pytest.raises(ValueError, match=listed):
    io.infer_model_name(["lstm.weight_ih_l0", "foo.weight"])
  with pytest.raises(ValueError, match="unknown checkpoint key set"):
    io.infer_model_name(_VQC[:-1], filename="QK.pth")
  with pytest.raises(TypeError, match="single string"):
    io.infer_model_name("lstm.weight_ih_l0")


def test_npz_checkpoint_round_trip(tmp_path):
  arrays = {
      "b.weight": np.arange(6, dtype=np.float64).reshape(2, 3) / 3,
      "a.bias": np.ones(2, np.float16),
  }
  np.savez(tmp_path / "m.npz", **arrays)
  sd = io.read_state_dict(tmp_path / "m.npz")
  assert list(sd) == ["b.weight", "a.bias"]
  np.testing.assert_array_equal(sd["b.weight"], arrays["b.weight"].astype(np.float32))
  assert all(v.dtype == np.float32 for v in sd.values())


def test_npz_checkpoint_rejects_object_and_int_arrays(tmp_path):
  np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
  with pytest.raises(io.UnsafePickleError):
    io.read_state_dict(tmp_path / "obj.npz")
  np.savez(tmp_path / "int.npz", steps=np.array(3))
  with pytest.raises(ValueError, match="'steps' has dtype int64"):
    io.read_state_dict(tmp_path / "int.npz")


def test_checkpoint_bad_paths(tmp_path):
  with pytest.raises(FileNotFoundError):
    io.read_state_dict(tmp_path / "none.pth")
  (tmp_path / "m.ckpt").write_bytes(b"x")
  with pytest.raises(ValueError, match="unknown checkpoint extension"):
    io.read_state_dict(tmp_path / "m.ckpt")
  (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
  with pytest.raises(ValueError):
    io.read_state_dict(tmp_path / "junk.npz")


def test_pth_without_torch_suggests_npz(tmp_path, monkeypatch):
  (tmp_path / "m.pth").write_bytes(b"irrelevant")
  (tmp_path / "m.npz").write_bytes(b"irrelevant")
  monkeypatch.setitem(sys.modules, "torch", None)  # Makes `import torch` fail.
  with pytest.raises(io.TorchUnavailableError, match=r"m\.npz") as info:
    io.read_state_dict(tmp_path / "m.pth")
  assert isinstance(info.value, ImportError)


def test_pth_round_trip_and_refusals(tmp_path):
  torch = pytest.importorskip("torch", reason="torch is needed to write .pth checkpoints")
  sd = {
      "x.weight": torch.arange(6, dtype=torch.float64).reshape(2, 3) / 7,
      "x.bias": torch.zeros(2),
  }
  torch.save(sd, tmp_path / "ok.pth")
  out = io.read_state_dict(tmp_path / "ok.pth")
  assert list(out) == ["x.weight", "x.bias"]
  np.testing.assert_array_equal(out["x.weight"], (sd["x.weight"]).numpy().astype(np.float32))

  marker = tmp_path / "marker"
  torch.save({"w": torch.zeros(1), "evil": _os_system(marker)}, tmp_path / "evil.pth")
  with pytest.raises(io.UnsafePickleError, match="weights_only"):
    io.read_state_dict(tmp_path / "evil.pth")
  assert not marker.exists()

  torch.save({"outer": {"w": torch.zeros(1)}}, tmp_path / "nested.pth")
  with pytest.raises(ValueError, match="nested checkpoints are not supported"):
    io.read_state_dict(tmp_path / "nested.pth")
  torch.save({"steps": torch.tensor(3)}, tmp_path / "int.pth")
  with pytest.raises(ValueError, match="'steps' has dtype torch.int64"):
    io.read_state_dict(tmp_path / "int.pth")
  torch.save([torch.zeros(1)], tmp_path / "list.pth")
  with pytest.raises(ValueError, match="expected a state dict"):
    io.read_state_dict(tmp_path / "list.pth")
  (tmp_path / "junk.pth").write_bytes(b"garbage")
  with pytest.raises(ValueError):
    io.read_state_dict(tmp_path / "junk.pth")


# ----------------------------------------------------------------------------
# torch -> Flax mapping on synthetic published-layout checkpoints (runs everywhere).
# ----------------------------------------------------------------------------


def _torch_modules(torch):
  """Modules with the published key layout, and their forward written independently."""
  nn = torch.nn

  class LSTMNet(nn.Module):  # keys lstm.{weight,bias}_{ih,hh}_l0
    def __init__(self):
      super().__init__()
      self.lstm = nn.LSTM(3, 2)

    def step(self, h, c, x):
      _, (h, c) = self.lstm(x[None, None], (h[None, None], c[None, None]))
      return h[0, 0], c[0, 0], h[0, 0]

  class QKGates(nn.Module):
    def __init__(self):
      super().__init__()
      self.clayer_in, self.clayer_out = nn.Linear(6, 4), nn.Linear(4, 3)

  class QKNet(nn.Module):  # keys lstm.clayer_{in,out}.*, mapping.*
    def __init__(self):
      super().__init__()
      self.lstm, self.mapping = QKGates(), nn.Linear(3, 2)

    def step(self, h, c, x):
      # The published gate circuit is U(a)^dagger U(a): every <Z_i> readout is 1, so the
      # four gates share the pre-activation clayer_out(1, 1, 1, 1).
      pre = self.lstm.clayer_out(torch.ones(4))
      c = torch.sigmoid(pre) * c + torch.sigmoid(pre) * torch.tanh(pre)
      h = torch.sigmoid(pre) * torch.tanh(c)
      return h, c, self.mapping(h)

  class FWPLayers(nn.Module):
    def __init__(self):
      super().__init__()
      self.input_encoder, self.slow_program_encoder = nn.Linear(3, 2), nn.Linear(3, 2)
      self.slow_program_layer_idx, self.slow_program_qubit_idx = nn.Linear(2, 1), nn.Linear(2, 2)
      self.post_mapping = nn.Linear(2, 2)

  class FWPHolder(nn.Module):
    def __init__(self):
      super().__init__()
      self.fwp_cell = FWPLayers()

  class FWPNet(nn.Module):  # keys fwp.fwp_cell.*
    def __init__(self):
      super().__init__()
      self.fwp = FWPHolder()

    def step(self, fast, x):
      m = self.fwp.fwp_cell
      e, r = m.input_encoder(x), m.slow_program_encoder(x)
      fast = torch.outer(m.slow_program_layer_idx(r), m.slow_program_qubit_idx(r))  # reset
      ry = lambda t: torch.stack([torch.stack([torch.cos(t / 2), -torch.sin(t / 2)]),
                                  torch.stack([torch.sin(t / 2), torch.cos(t / 2)])])
      had = torch.tensor([[1.0, 1.0], [1.0, -1.0]]) / 2 ** 0.5
      cnot = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
      psi = torch.tensor([1.0, 0.0, 0.0, 0.0])  # |q0 q1>, wire 0 the high bit; all real
      psi = torch.kron(had, had) @ psi
      psi = torch.kron(ry(e[0]), ry(e[1])) @ psi
      psi = torch.kron(ry(fast[0, 0]), ry(fast[0, 1])) @ (cnot @ psi)
      z = torch.stack([psi @ (torch.tensor([1.0, 1, -1, -1]) * psi),
                       psi @ (torch.tensor([1.0, -1, 1, -1]) * psi)])
      return fast, m.post_mapping(z)

  return {"lstm": LSTMNet, "qk_lstm": QKNet, "qfwp": FWPNet}


@pytest.mark.parametrize("name, filename", [("lstm", "best_LSTM_model_synthetic.pth"),
                                            ("qk_lstm", "best_QK_model_synthetic.pth"),
                                            ("qfwp", "best_FWP_model_synthetic.pth")])
def test_synthetic_torch_checkpoint_maps_onto_the_flax_cell(name, filename, tmp_path):
  torch = pytest.importorskip("torch", reason="torch is needed to write .pth checkpoints")
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from jqmeta import models  # pylint: disable=import-outside-toplevel
  torch.manual_seed(7)
  net = _torch_modules(torch)[name]()
  with torch.no_grad():  # weights well away from PyTorch's small default init
    for p in net.parameters():
      p.uniform_(-1.5, 1.5)
  torch.save(net.state_dict(), tmp_path / filename)
  model, variables = io.load_reference_checkpoint(tmp_path / filename)
  assert (type(model), model.variant, model.p) == (type(models.create(name)), "reference", 1)
  rng = np.random.default_rng(3)
  for _ in range(4):
    x = rng.uniform(-2, 2, 3).astype(np.float32)
    t = lambda a: torch.from_numpy(np.asarray(a, np.float32))
    with torch.no_grad():
      if name == "qfwp":
        fast = rng.uniform(-1, 1, (1, 2)).astype(np.float32)  # reset by the reference cell
        want_state, want = net.step(t(fast), t(x))
        carry, got = model.apply(variables, models.FWPCarry(jnp.asarray(fast)), jnp.asarray(x))
        got_state = [carry.fast]
        want_state = [want_state]
      else:
        h, c = (rng.uniform(-1, 1, model.initial_carry().h.shape).astype(np.float32)
                for _ in range(2))
        wh, wc, want = net.step(t(h), t(c), t(x))
        carry, got = model.apply(variables, models.LSTMCarry(jnp.asarray(h), jnp.asarray(c)),
                                 jnp.asarray(x))
        got_state, want_state = [carry.h, carry.c], [wh, wc]
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=0, atol=2e-6)
    for g, w in zip(got_state, want_state):
      np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=0, atol=2e-6)


def test_load_reference_checkpoint_refuses_a_name_the_file_contradicts(tmp_path):
  lstm = {f"lstm.{k}_l0": np.zeros(s, np.float32) for k, s in
          {"weight_ih": (8, 3), "weight_hh": (8, 2), "bias_ih": (8,), "bias_hh": (8,)}.items()}
  np.savez(tmp_path / "best_LSTM_model.npz", **lstm)
  with pytest.raises(ValueError, match="holds a published lstm checkpoint, not qfwp"):
    io.load_reference_checkpoint(tmp_path / "best_LSTM_model.npz", name="qfwp")
  shapes = {"lstm.clayer_in": (4, 6), "lstm.clayer_out": (3, 4), "mapping": (2, 3)}
  vqc = {f"{k}.{p}": np.zeros(s if p == "weight" else s[:1], np.float32)
         for k, s in shapes.items() for p in ("weight", "bias")}
  np.savez(tmp_path / "best_QK_model.npz", **vqc)
  with pytest.raises(ValueError, match="holds a published qk_lstm checkpoint, not qlstm"):
    io.load_reference_checkpoint(tmp_path / "best_QK_model.npz", name="qlstm")
  np.savez(tmp_path / "weights.npz", **vqc)  # the name says neither: name= decides
  model, variables = io.load_reference_checkpoint(tmp_path / "weights.npz", name="qlstm")
  assert model.gate == "vqc" and "circuit" in variables


def test_reference_dir_from_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(io.REFERENCE_DIR_ENV, str(tmp_path / "my-reference"))
  assert io.reference_dir() == tmp_path / "my-reference"
  monkeypatch.setenv(io.REFERENCE_DIR_ENV, "")  # empty counts as unset
  assert io.reference_dir() == REF


def test_reference_dir_for_a_checkout_and_an_installed_package(tmp_path):
  from jqmeta._src import published  # pylint: disable=import-outside-toplevel
  checkout = tmp_path / "src" / "main"
  (checkout / "jqmeta").mkdir(parents=True)
  (checkout / "pyproject.toml").write_text('[project]\nname = "jqmeta"\n')
  site = tmp_path / "venv" / "lib" / "site-packages"
  (site / "jqmeta").mkdir(parents=True)
  (site / "pyproject.toml").write_text('[project]\nname = "other"\n')  # not jqmeta's
  cwd = tmp_path / "work" / "run"
  find = published.find_reference_dir
  assert find(checkout / "jqmeta", cwd, {}) == tmp_path / "src" / "shared" / "reference"
  assert find(site / "jqmeta", cwd, {}) == tmp_path / "work" / "shared" / "reference"
  env = {io.REFERENCE_DIR_ENV: str(tmp_path / "ref")}
  assert find(site / "jqmeta", cwd, env) == tmp_path / "ref"
