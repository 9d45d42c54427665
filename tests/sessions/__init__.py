"""Own tests that drive pytest sessions in this process (pytester's runpytest)."""
