# The data directory's guards: one broker at a time, one format, nothing that is not a store.
from __future__ import annotations

import os
from pathlib import Path

import pytest

from amqp_broker.store.directory import FORMAT, DataDirectory, StoreError


def test_new_directory_is_created_and_stamped(tmp_path: Path) -> None:
    directory = DataDirectory.open(tmp_path / "a" / "b")
    try:
        assert (tmp_path / "a" / "b" / "format").read_text().strip() == FORMAT
    finally:
        directory.close()


def test_second_open_while_locked_names_the_holder(tmp_path: Path) -> None:
    first = DataDirectory.open(tmp_path)
    try:
        with pytest.raises(StoreError) as error:
            DataDirectory.open(tmp_path)
        assert str(error.value) == (
            f"data directory {tmp_path} is in use by another running broker (pid {os.getpid()})"
        )
    finally:
        first.close()
    DataDirectory.open(tmp_path).close()  # released by close()


def test_other_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "format").write_text("trio-amqp-broker store 99\n")
    with pytest.raises(StoreError, match="holds 'trio-amqp-broker store 99', but this broker"):
        DataDirectory.open(tmp_path)
    DataDirectory.open(tmp_path / "elsewhere").close()  # the failed open left no lock behind


def test_non_empty_directory_without_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(StoreError, match="is not empty and holds no broker store"):
        DataDirectory.open(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_a_file_in_the_way_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="is not usable"):
        DataDirectory.open(tmp_path / "file")
