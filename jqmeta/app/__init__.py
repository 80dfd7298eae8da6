"""The paper's application, built on the library: what ``jqmeta`` on the command line runs.

* ``paper``: the paper's constants (dataset sizes, published Tables II/III, measured
  ceilings, the methods of the comparison) and its datasets (the embedded seeded draw,
  loading the published pickle);
* ``reproduce``: the whole pipeline behind ``jqmeta reproduce``, as named stages;
* ``report``: tables, figures and the markdown report;
* ``cli``: the ``jqmeta`` command (``info``, ``train``, ``evaluate``, ``reproduce``).

Nothing in the library (``jqmeta.*`` outside this package) imports from here.
"""
