"""Sealed verdicts: an implementation's code runs in a process of its own, an "implementation
host", and the judging process only ever sees plain data from it.

The judging side (:mod:`.host`, :mod:`.proxy`) holds the reference, the tolerances, the
clocks and pytest; it never imports an implementation's module and never unpickles anything
the host sends (:mod:`.values` decodes a closed set of plain types). Native objects (what
``to_device`` returns) stay in the host behind handles. Time limits are enforced from outside:
the host is killed, not asked. docs/trust.md states what this guarantees and what it does not.
"""
