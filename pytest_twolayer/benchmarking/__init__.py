"""The benchmark concern's machinery: syncing timers, the in-run peak, measurements, gates,
the xdist relay for pytest-benchmark, and the table of figures."""
