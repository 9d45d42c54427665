"""What a call into an implementation raises when its process ended (or broke the protocol of
its host) during the call, rather than the call's own answer.

Defined here, below the checks, so that a check can tell it from an exception the
implementation raised: a check that wants a call rejected (``load`` given bad parameters,
``__init__`` an undeclared dtype) must not take the end of the process for a rejection. In one
process the same end takes the worker down and fails the check that was running; sealed, it
fails that check too, naming the call.
"""

from __future__ import annotations


class ImplementationEnded(Exception):
    """The implementation's process ended, or stopped answering as its host must, during a
    call (:class:`pytest_twolayer.sealed.host.HostEnded` and ``HostBroken``)."""
