"""The pytest-twolayer conformance suite: one module per concern of the contract
(docs/contract.md), each check listed once in :data:`pytest_twolayer.checking.suite.CHECKS`.

Each module holds plain ``check_*`` functions that take a :class:`pytest_twolayer.Case`
and raise :class:`pytest_twolayer.ConformanceFailure` naming the implementation, device,
dtype, check and seed (usable without pytest, e.g. by ``scripts/seed_sweep.py``), and
thin ``test_*`` functions that pytest parametrizes over the selected implementations
through the ``twolayer_case`` fixture (see ``pytest_twolayer.fixtures``).

A check does everything under its verdict label through one judge,
``judge = case.judge(check)`` (:class:`pytest_twolayer.checking.judge.Judge`), and keeps the
label in a local ``check`` beside its ``case``: that is where a hang's verdict finds the
label of the check that ran over (:func:`pytest_twolayer.outcomes.timeouts.check_label`).
"""
