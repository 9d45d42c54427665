"""The suite's property checks keep hypothesis's examples in a private storage, not in the
folder a run starts in, unless the user named one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis.configuration import storage_directory

from pytest_twolayer.checking.strategies import STORAGE_VARIABLE, private_storage


def test_the_suites_property_checks_write_to_a_private_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORAGE_VARIABLE, raising=False)
    before = storage_directory(intent_to_write=False).home_directory
    with private_storage():
        inside = storage_directory("constants")
        inside.create_if_missing()
        assert inside.path.is_dir()
        assert tmp_path not in inside.path.parents
    assert not inside.path.exists()  # gone with the temporary folder
    assert storage_directory(intent_to_write=False).home_directory == before


def test_a_storage_the_user_named_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(STORAGE_VARIABLE, str(tmp_path))
    before = storage_directory(intent_to_write=False).home_directory
    with private_storage():
        assert storage_directory(intent_to_write=False).home_directory == before
