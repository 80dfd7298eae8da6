"""The paper's application, built on the library: what ``jqmeta`` on the command line runs.

* ``paper``: the paper's constants (dataset sizes, published Tables II/III, measured
  ceilings, the methods of the comparison) and its datasets (the embedded seeded draw,
  loading the published pickle);
* ``reproduce``: the whole pipeline behind ``jqmeta reproduce``, as named stages;
* ``report``: tables and the markdown report (``report.md``);
* ``figures``: figures 8 and 9 (each returns its matplotlib Figure);
* ``style``: the one palette, marker set and text-size rule of every figure;
* ``progress``: stage lines, labelled bars and the persistent compilation cache;
* ``study_report``, ``study_cli``: the outputs and the command of ``jqmeta study``;
* ``cli``: the ``jqmeta`` command (``info``, ``train``, ``evaluate``, ``reproduce``,
  ``study``).

Nothing in the library (``jqmeta.*`` outside this package) imports from here.
"""
