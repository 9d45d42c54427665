"""Reports of a conformance run: the one collector of per-test data, and what is rendered from
it (the terminal matrix and benchmark table, a JSON report, a Markdown summary, and
pytest-benchmark's merged results under xdist)."""
