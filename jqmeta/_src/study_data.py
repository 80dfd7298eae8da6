"""The study's data stage and batch layout (re-exported by :mod:`jqmeta.study`).

:func:`make_datasets` generates (or reloads) every family's graphs; :func:`batch` is the
one layout every study batch uses, so that all families at a size share compiled programs.

Example:
  >>> import networkx as nx
  >>> batch([nx.path_graph(3), nx.cycle_graph(4)]).edges.shape
  (2, 6, 2)
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jqmeta import io, problems, qaoa
from jqmeta._src.study_summary import digest

__all__ = ["make_datasets", "batch", "max_cuts", "min_cuts", "graph_key", "bar",
           "stack_repeated"]


def bar(total: int, desc: str, progress: bool):
  return tqdm(total=total, desc=desc, disable=not progress, dynamic_ncols=True, leave=False)


def graph_key(graphs: list) -> str:
  return digest([sorted((u, v, float(d.get("weight", 1.0))) for u, v, d in g.edges(data=True))
                  for g in graphs])


def make_datasets(config, key, out=None, *, progress: bool = False) -> dict:
  """Train / validation / test graphs of every family (saved, and reloaded if present).

  Args:
    config: the :class:`jqmeta.study.StudyConfig`.
    key: a ``jax.random.key``; family ``i`` uses ``fold_in(key, i)``.
    out: optional folder; ``out/datasets/<family>.json`` is written (with its signature
      in ``<family>.signature``), and read back instead of regenerating when it matches.
    progress: show a bar.

  Returns:
    ``{family: {"train": [nx.Graph], "val": [...], "test": {n: [...]}}}``.

  Example:
    >>> import jax
    >>> from jqmeta.study import StudyConfig
    >>> cfg = StudyConfig.quick(families=("er",), test_count=2, train_count=2, val_count=1)
    >>> d = make_datasets(cfg, jax.random.key(0))
    >>> len(d["er"]["train"]), sorted(d["er"]["test"]), len(d["er"]["test"][8])
    (2, [8], 2)
  """
  data = {}
  progress_bar = bar(len(config.families), "datasets", progress)
  for i, family in enumerate(config.families):
    fkey = jax.random.fold_in(key, problems.FAMILIES.index(family))
    sig = digest([config.train_n, config.test_n, config.train_count, config.val_count,
                   config.test_count, family, np.asarray(jax.random.key_data(fkey)).tolist()])
    path = None if out is None else Path(out) / "datasets" / f"{family}.json"
    stamp = None if path is None else path.with_suffix(".signature")
    if path is not None and path.exists() and stamp.exists() and stamp.read_text() == sig:
      data[family] = _unpack(io.load_dataset(path), config)
      progress_bar.update(1)
      continue
    splits = {}
    for j, n in enumerate(config.train_n):
      k_tr, k_va = jax.random.split(jax.random.fold_in(fkey, 1000 + j))
      splits.setdefault("train", []).extend(
          problems.generate(family, n, k_tr, count=config.train_count))
      splits.setdefault("val", []).extend(
          problems.generate(family, n, k_va, count=config.val_count))
    for j, n in enumerate(config.test_n):
      splits[f"test_{n}"] = problems.generate(family, n, jax.random.fold_in(fkey, 2000 + j),
                                              count=config.test_count)
    if path is not None:
      path.parent.mkdir(parents=True, exist_ok=True)
      io.save_dataset(path, splits)
      stamp.write_text(sig)
    data[family] = _unpack(splits, config)
    progress_bar.update(1)
  progress_bar.close()
  return data


def _unpack(splits: dict, config) -> dict:
  return {"train": splits["train"], "val": splits["val"],
          "test": {n: splits[f"test_{n}"] for n in config.test_n}}


def batch(gs: list):
  """The study's one batch layout: edge capacity ``N(N - 1)/2`` and the general (weighted)
  path, so that every family at a size shares the same compiled programs."""
  N = max(G.number_of_nodes() for G in gs)
  return problems.batch(gs, max_edges=max(N * (N - 1) // 2, 1)).replace(unweighted=False)


def max_cuts(gs: list) -> np.ndarray:
  return np.asarray(jax.vmap(qaoa.max_cut)(batch(gs)), np.float64)


def min_cuts(gs: list) -> np.ndarray:
  """``(G,)`` float64 min cuts (0 on nonnegative weights; negative on SK)."""
  return np.asarray(jax.vmap(qaoa.min_cut)(batch(gs)), np.float64)


def stack_repeated(stacked, times: int):
  """A batched ``Graph`` repeated ``times`` times along its graph axis (one batch for
  several start sets on the same graphs)."""
  return jax.tree.map(lambda x: jnp.concatenate([x] * times), stacked)
