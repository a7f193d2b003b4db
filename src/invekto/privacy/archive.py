"""A ZIP archive written as it is sent: the documents first, then each stored file read and
passed on in slices, so a contact with gigabytes of pictures costs the server one file's
memory, never the archive's. ``zipfile`` writes to a stream it cannot seek with a data
descriptor after each entry, which every unzip tool reads."""

from __future__ import annotations

import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from invekto.core.storage import Storage

# What is handed to the client at a time while a file is copied into the archive.
SLICE = 1024 * 1024
MISSING = "missing-files.txt"
_UNSAFE = re.compile(r"[^\w.-]+")


def safe_filename(name: str, *, limit: int = 100) -> str:
    """A file's name as a path inside the archive: letters (any script), digits, dots, dashes
    and underscores; never a directory or a hidden file."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "file"
    return cleaned[-limit:]


@dataclass(frozen=True)
class StoredFile:
    path: str  # inside the archive
    storage_key: str


class _Pipe:
    """Where ``zipfile`` writes: kept until the stream takes it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _entry(path: str, when: datetime, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=when.timetuple()[:6])
    info.compress_type = compression
    return info


async def stream(documents: list[tuple[str, bytes]], files: list[StoredFile], storage: Storage,
                 *, when: datetime) -> AsyncIterator[bytes]:
    """The archive's bytes: ``documents`` (path, content) compressed, then ``files`` as stored
    (pictures and recordings are compressed already). A file gone from storage since the
    documents were read is listed in ``missing-files.txt`` instead."""
    pipe = _Pipe()
    missing: list[str] = []
    with zipfile.ZipFile(pipe, "w") as archive:
        for path, content in documents:
            archive.writestr(_entry(path, when, zipfile.ZIP_DEFLATED), content)
            if written := pipe.take():
                yield written
        for stored in files:
            try:
                data = await storage.get(stored.storage_key)
            except FileNotFoundError:
                missing.append(stored.path)
                continue
            entry = _entry(stored.path, when, zipfile.ZIP_STORED)
            entry.file_size = len(data)  # decides whether the entry needs ZIP64 sizes
            with archive.open(entry, "w") as writing:
                for start in range(0, len(data), SLICE):
                    writing.write(data[start:start + SLICE])
                    if written := pipe.take():
                        yield written
            del data
        if missing:
            archive.writestr(_entry(MISSING, when, zipfile.ZIP_DEFLATED),
                             "\n".join(missing) + "\n")
    yield pipe.take()
