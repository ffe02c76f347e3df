# The data directory: created on first use, held by one running broker at a time (an flock on
# `lock`), stamped with the on-disk format it holds (`format`). Every way it can be unusable
# becomes a StoreError whose text is one line a user can act on.
from __future__ import annotations

import fcntl
import os
from pathlib import Path

FORMAT = "trio-amqp-broker store 1"
FORMAT_FILE = "format"
LOCK_FILE = "lock"


class StoreError(Exception):
    """The data directory cannot be used; str() is the one-line reason."""


def check_fsync(mode: str) -> None:
    """Raises StoreError unless `mode` is "always" or "never": a typo must not turn fsync off."""
    if mode not in ("always", "never"):
        raise StoreError(f"fsync must be 'always' or 'never', not {mode!r}")


class DataDirectory:
    """An open, locked data directory. close() releases the lock."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> DataDirectory:
        """Create (if needed), lock and check a data directory.

        Raises StoreError when it cannot be created or written, another broker holds it, or it
        holds another format (or something that is not a broker store at all).
        """
        root = Path(path).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"data directory {root} is not usable: {exc.strerror}") from exc
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(lock_fd, 32, 0).decode("ascii", "replace").strip()
            os.close(lock_fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise StoreError(
                f"data directory {root} is in use by another running broker{pid}"
            ) from exc
        directory = cls(root, lock_fd)
        try:
            os.ftruncate(lock_fd, 0)
            os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
            directory._check_format()
        except OSError as exc:
            directory.close()
            raise StoreError(f"data directory {root} is not usable: {exc.strerror}") from exc
        except StoreError:
            directory.close()
            raise
        return directory

    def _check_format(self) -> None:
        stamp = self.path / FORMAT_FILE
        try:
            found = stamp.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            others = [entry.name for entry in self.path.iterdir() if entry.name != LOCK_FILE]
            if others:
                raise StoreError(
                    f"data directory {self.path} is not empty and holds no broker store "
                    f"(found {sorted(others)[0]!r}); choose an empty or new directory"
                ) from None
            temporary = self.path / (FORMAT_FILE + ".tmp")
            temporary.write_text(FORMAT + "\n", encoding="utf-8")
            os.replace(temporary, stamp)
            return
        if found != FORMAT:
            raise StoreError(
                f"data directory {self.path} holds {found!r}, but this broker reads {FORMAT!r}"
            )

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
