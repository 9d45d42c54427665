"""Own tests of pure functions: no pytest session, no process of their own."""
