# The disk-facing half of the store: makes a Batch durable. It runs in a worker thread, one batch
# at a time, and is the only code that writes the data directory after startup.
#
# Rules kept here:
# - Order within a batch: the definitions file (written aside, fsynced, renamed), then appends,
#   then one fdatasync per file written (and per directory that gained an entry), and only then
#   deletions, so nothing is removed before what replaces it is durable.
# - With fsync "never" the same writes are made without the syncs: they survive a crash of the
#   broker process (the kernel has them) but not a power cut.
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amqp_broker.store.journal import Batch

DEFINITIONS_FILE = "definitions"
_MAX_OPEN_FILES = 256


class StoreWriter:
    def __init__(self, root: Path, *, fsync: bool) -> None:
        self.root = root
        self.fsync = fsync
        self._files: dict[str, int] = {}  # relative path -> descriptor open for appending

    def write(self, batch: Batch) -> None:
        """Raises OSError when the disk fails; nothing in the batch may then be confirmed."""
        new_entries: set[Path] = set()
        if batch.definitions is not None:
            self._replace(DEFINITIONS_FILE, batch.definitions)
        written: list[int] = []
        for path, data in batch.writes.items():
            fd = self._files.get(path)
            if fd is None:
                fd = self._open(path, new_entries)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            written.append(fd)
        if self.fsync:
            for fd in written:
                os.fdatasync(fd)
            for directory in new_entries:
                _sync_directory(directory)
        for path in batch.removals:
            self._delete(path)
        if len(self._files) > _MAX_OPEN_FILES:
            self._close_files()

    def _open(self, path: str, new_entries: set[Path]) -> int:
        target = self.root / path
        parent = target.parent
        if not parent.is_dir():
            parent.mkdir(parents=True)
            new_entries.add(parent.parent)
        existed = target.exists()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if not existed:
            new_entries.add(parent)
        self._files[path] = fd
        return fd

    def _replace(self, name: str, data: bytes) -> None:
        temporary = self.root / (name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.root / name)
        if self.fsync:
            _sync_directory(self.root)

    def _delete(self, path: str) -> None:
        prefix = path + "/"
        for open_path in [p for p in self._files if p == path or p.startswith(prefix)]:
            os.close(self._files.pop(open_path))
        target = self.root / path
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()

    def _close_files(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def close(self) -> None:
        self._close_files()


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
