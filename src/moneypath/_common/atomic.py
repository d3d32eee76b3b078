"""Write a file so that a reader sees the old content or the new, never half of it (and a crash leaves
no partial file): a temporary file in the same directory, then os.replace."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


@contextmanager
def replacing(path: Path, fsync: bool = False, newline: str | None = None) -> Iterator[TextIO]:
    """`with replacing(path) as f: f.write(...)`: the file appears at `path` when the block ends without
    an exception; on an exception the temporary file is removed and `path` is untouched. `fsync` makes
    the content durable before it appears (a settlement file a reader imports once)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _MODE)  # mkstemp makes 0600; the file gets the mode open() would give it
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str, fsync: bool = False) -> None:
    with replacing(path, fsync=fsync) as f:
        f.write(text)


def write_json(path: Path, data: Any, **dumps: Any) -> None:
    """JSON with a final newline; `dumps` goes to json.dumps (indent, default, allow_nan, ...)."""
    write_text(path, json.dumps(data, **({"indent": 2} | dumps)) + "\n")


def create_once(path: Path, data: bytes) -> bool:
    """Create `path` with `data`, durable and whole, or not at all: False when it exists already (another writer
    won). A temporary file linked into place, so two writers of one name never both succeed (a history's next
    record) and a reader never sees half of it."""
    path = Path(path)
    temp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(temp, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the new name too
        finally:
            os.close(fd)
        return True
    finally:
        temp.unlink(missing_ok=True)
