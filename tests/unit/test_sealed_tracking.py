"""The judge's record of the arrays a host returned: an array the caller lets go of is
forgotten (and the host told) at the next request, never inside the weakref callback, which
may run in the middle of a loop over the record (a garbage-collector pass); what the caller
wrote into one is found bitwise and sent with the next request."""

from __future__ import annotations

import gc

import numpy as np

from pytest_twolayer.sealed.host import ImplementationHost
from pytest_twolayer.sealed.values import Encoder


def host() -> ImplementationHost:
    return ImplementationHost("numpy", {})  # never started: only its record is used


def test_an_array_let_go_of_is_forgotten_at_the_next_request_not_in_its_callback():
    judged = host()
    returned = np.ones(3)
    judged.track(7, returned)
    del returned
    gc.collect()
    assert 7 in judged.tracked  # the callback changed nothing: a loop over it may be running
    assert judged.writes(Encoder()) == []  # what a request does first
    assert 7 not in judged.tracked
    assert judged.released == [7]


def test_a_sync_tracked_again_for_a_new_array_survives_the_old_ones_end():
    judged = host()
    first, second = np.ones(3), np.zeros(4)
    judged.track(7, first)
    judged.track(7, second)  # the host returned a new array under the same sync
    del first
    gc.collect()
    judged.prune()
    assert judged.tracked[7].array() is second
    assert judged.released == []


def test_the_callback_may_run_during_a_loop_over_the_record():
    judged = host()
    arrays = [np.ones(2) for _ in range(50)]
    for sync in range(len(arrays)):
        judged.track(sync, arrays[sync])
    for _sync, _entry in judged.tracked.items():  # raises if the dict changes under it
        arrays.clear()  # every array's callback runs here, inside the loop
    judged.prune()
    assert judged.tracked == {}
    assert sorted(judged.released) == list(range(50))


def test_a_write_is_found_bitwise_and_sent_once():
    judged = host()
    returned = np.array([0.0, np.nan, 1.0])
    judged.track(7, returned)
    assert judged.writes(Encoder()) == []  # NaN is the same NaN: nothing written
    returned[0] = -0.0  # equal to 0.0 as a number, but a write all the same
    encoder = Encoder()
    assert judged.writes(encoder) == [[7, 0]]
    assert bytes(encoder.buffers[0]) == returned.tobytes()
    assert judged.writes(Encoder()) == []  # sent once


def test_a_view_is_compared_in_c_order_as_the_host_reads_it():
    judged = host()
    returned = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    judged.track(7, returned)
    returned[1, 2] = 9.0
    encoder = Encoder()
    assert judged.writes(encoder) == [[7, 0]]
    assert bytes(encoder.buffers[0]) == np.ascontiguousarray(returned).tobytes()
