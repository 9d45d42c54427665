"""Reading a conformance test's node id back into implementation, device, dtype and concern.

The xdist controller never collects, and a crashed worker's report carries nothing but its
node id, so the scheduler and the reports identify a case from the id alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_twolayer.contract import KNOWN_DEVICES, KNOWN_DTYPES


@dataclass(frozen=True)
class CaseKey:
    """Where a conformance test's node id says it ran."""

    impl: str
    device: str | None  # None for a test of the implementation alone (it loads)
    dtype: str | None
    concern: str  # the suite module's concern ("gradients"), or "other" for users' tests
    check: str  # the test function's name


_MODULE = re.compile(r"(?:^|/)test_(?P<concern>\w+)\.py::")
_DEVICE_DTYPE = "(?:{})-(?:{})".format("|".join(KNOWN_DEVICES), "|".join(KNOWN_DTYPES))


def parse(nodeid: str, names: list[str], suite_modules: frozenset[str]) -> CaseKey | None:
    """The case of ``nodeid`` if its parameters name one of ``names``, else None.

    ``suite_modules`` are the shipped suite's module names (``test_gradients.py``); a test in
    any other module gets the concern ``"other"``.
    """
    path, _, rest = nodeid.partition("::")
    function, _, params = rest.partition("[")
    if not params:
        return None
    params = params.rstrip("]")
    file_name = path.rsplit("/", 1)[-1]
    match = _MODULE.search(path + "::")
    concern = match["concern"] if match and file_name in suite_modules else "other"
    check = function.rsplit("::", 1)[-1]
    # Longest names first: "tf-static" must not be read as an implementation "tf".
    for name in sorted(names, key=len, reverse=True):
        escaped = re.escape(name)
        found = re.search(rf"(?:^|-){escaped}-(?P<dd>{_DEVICE_DTYPE})(?:-|$|\d)", params)
        if found:
            device, dtype = found["dd"].split("-")
            return CaseKey(name, device, dtype, concern, check)
        if re.fullmatch(rf"{escaped}\d*", params):  # twolayer_loaded: the implementation alone
            return CaseKey(name, None, None, concern, check)
    return None
