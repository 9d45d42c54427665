"""How long a judging process keeps its implementations' hosts: at most :data:`LIVE_HOSTS`
running; loading makes room by ending the newest other host (the checks take the
implementations in the order they were loaded); a check makes room by ending the least
recently used; and in one process, where an implementation's checks run together, its host
ends after the last of them."""

from __future__ import annotations

from pytest_twolayer.sealed.sealing import Sealing


class FakeHost:
    def __init__(self) -> None:
        self.alive = True

    def running(self) -> bool:
        return self.alive

    def kill(self) -> None:
        self.alive = False


def sealing_with(names: str, live: int) -> Sealing:
    sealing = Sealing(live=live)
    sealing.hosts = {name: FakeHost() for name in names}  # type: ignore[misc]
    return sealing


def running(sealing: Sealing) -> str:
    return "".join(name for name, host in sealing.hosts.items() if host.running())


def test_loading_ends_the_newest_other_host():
    sealing = sealing_with("abcd", live=3)  # d just loaded, listed last
    sealing.make_room(keep="d", newest_first=True)
    assert running(sealing) == "abd"


def test_a_check_ends_the_least_recently_used_host():
    sealing = sealing_with("abcd", live=3)
    sealing.make_room(keep="d")
    assert running(sealing) == "bcd"


def test_the_host_that_needs_room_counts_even_before_it_starts_again():
    sealing = sealing_with("abc", live=2)
    sealing.hosts["c"].kill()  # c's checks are next: it starts again in their first call
    sealing.make_room(keep="c")
    assert running(sealing) == "b"


def test_within_the_limit_nothing_ends():
    sealing = sealing_with("abc", live=3)
    sealing.make_room(keep="c", newest_first=True)
    assert running(sealing) == "abc"


def test_grouped_a_host_ends_after_its_implementations_last_check():
    sealing = sealing_with("abc", live=8)
    sealing.grouped = True
    sealing.after_check("a", "a")
    assert running(sealing) == "abc"
    sealing.after_check("a", "b")
    assert running(sealing) == "bc"
    sealing.after_check("c", None)  # the run's last test
    assert running(sealing) == "b"
    sealing.after_check(None, "b")  # a user's own test: no host of its own
    assert running(sealing) == "b"


def test_not_grouped_a_host_outlives_a_check_of_another_implementation():
    """Under xdist a worker runs what the scheduler sends: the same implementation may come
    back in a later batch, and a host started again costs seconds for TensorFlow."""
    sealing = sealing_with("ab", live=8)
    sealing.after_check("a", "b")
    assert running(sealing) == "ab"
