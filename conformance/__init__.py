"""The pytest-twolayer conformance suite: one module per concern of the contract.

Each module holds plain ``check_*`` functions that take a :class:`pytest_twolayer.Case`
and raise :class:`pytest_twolayer.ConformanceFailure` naming the implementation, device,
dtype, check and seed (usable without pytest, e.g. by ``scripts/seed_sweep.py``), and
thin ``test_*`` functions that pytest parametrizes over the selected implementations
through the ``twolayer_case`` fixture (see ``pytest_twolayer.fixtures``).

Concerns: contract, shapes, gradients, update, training, hygiene. Benchmarks will get
their own module here (``test_benchmark.py``), fed by the same fixtures.
"""
