"""Process-global state: every watched setting of Python, numpy, torch and TensorFlow
(watched), snapshots and what changed between two (snapshot), and the guard around every
twolayer test that restores it and gives the global_state_untouched verdict (guard).
"""
