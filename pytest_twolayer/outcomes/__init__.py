"""What becomes of a check's result: verdicts and their reproduce lines, expected failures,
the per-check time limit, and the failure-count ratchet.
"""
