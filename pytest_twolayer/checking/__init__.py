"""What the checks are made of: a case (one implementation x device x dtype x seed), the
one list of checks, the test points and data they choose, input layouts, comparisons that
turn returned values into verdicts, the tutorial's training run, and the channel a check
publishes its figures on.
"""
