"""The live knowledge-base corpus of the demo service, with content-addressed versions.

Documents are the `*.md` files directly in the corpus folder (dotfiles ignored), parsed by
`drillkit.demo.context.parse_document`.  The folder is re-read when the set of files or any
file's stamp (`drillkit.demo.files.file_stamp`) changes; the check runs at most every
`check_interval` seconds, so an edit is live within that time.

Version id of a corpus content: `"c" + sha256(lines)[:8]` where `lines` is the concatenation,
over documents sorted by id, of `f"{id}\\0{sha256(file bytes).hexdigest()}\\n"` (UTF-8).  Each
version is snapshotted under `<versions_dir>/<version>/` the first time it is seen (startup
included), and recorded in the lever state's corpus history (`Levers.record_corpus`).

`activate(version | "previous")` copies a snapshot back into the corpus folder (each file replaced
atomically, files absent from the snapshot removed), so a rollback is a real change of the live
files that every other reader sees.  Both forms check the id (`VERSION_ID`) before touching a
file, so a tampered history cannot point a rollback outside the snapshots folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from drillkit.demo.context import Document, parse_document
from drillkit.demo.files import Stamp, file_stamp, write_atomic
from drillkit.demo.levers import PREVIOUS, VERSION_ID, LeverError, Levers

Signature = tuple[tuple[str, Stamp | None], ...]


def corpus_version(files: Mapping[str, bytes]) -> str:
    """The version id of a corpus given `{doc id: file bytes}` (see module doc)."""
    h = hashlib.sha256()
    for doc_id in sorted(files):
        h.update(f"{doc_id}\0{hashlib.sha256(files[doc_id]).hexdigest()}\n".encode())
    return "c" + h.hexdigest()[:8]


def corpus_documents(folder: Path) -> list[Document]:
    """The documents of a corpus folder, sorted by id (what the service retrieves from)."""
    return [parse_document(p.stem, p.read_bytes()) for p in _md_files(folder)]


def _md_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.md") if not p.name.startswith(".") and p.is_file())


class LiveCorpus:
    """The corpus folder as the service sees it, plus its version snapshots.

    Not thread-safe: meant for one asyncio loop (all file I/O is small and synchronous).
    """

    def __init__(
        self,
        corpus_dir: Path,
        versions_dir: Path,
        levers: Levers,
        *,
        check_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.corpus_dir = corpus_dir
        self.versions_dir = versions_dir
        self.levers = levers
        self.check_interval = check_interval
        self._clock = clock
        self._signature: Signature | None = None
        self._checked_at = float("-inf")
        self._documents: list[Document] = []
        self._version = corpus_version({})
        self.refresh(force=True)

    @property
    def version(self) -> str:
        """The version id of the content last read (call `refresh` first for a fresh answer)."""
        return self._version

    def documents(self) -> list[Document]:
        """The live documents, sorted by id (re-read if the folder changed)."""
        self.refresh()
        return self._documents

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the folder if it changed; snapshot and record a version seen for the first time."""
        now = self._clock()
        if not force and now - self._checked_at < self.check_interval:
            return
        self._checked_at = now
        signature = self._stat()
        if signature == self._signature and not force:
            return
        files: dict[str, bytes] = {}
        for path in _md_files(self.corpus_dir):
            try:
                files[path.stem] = path.read_bytes()
            except OSError:
                # Removed or replaced between listing and reading: read everything again next time.
                signature = None
        self._signature = signature
        self._documents = [parse_document(doc_id, raw) for doc_id, raw in sorted(files.items())]
        self._version = corpus_version(files)
        self._snapshot(self._version, files)
        self.levers.record_corpus(self._version)

    def activate(self, version: str) -> str:
        """Make a snapshotted version (or `previous`) the live corpus; returns the version id.

        Raises LeverError: 400 for a malformed id or no previous version, 404 for an unknown one.
        """
        self.refresh(force=True)
        rollback = version == PREVIOUS
        if rollback:
            version = self.levers.state.corpus.previous("corpus")
        if not isinstance(version, str) or not VERSION_ID.match(version):
            raise LeverError(f"bad corpus version {version!r}: expected 'c' + 8 hex digits or 'previous'")
        snapshot = self.versions_dir / version
        if not snapshot.is_dir():
            known = [v["version"] for v in self.list_versions()]
            raise LeverError(f"no corpus version {version!r} (known: {known})", 404)
        self._restore(snapshot)
        self.levers.record_corpus(version, rollback=rollback)
        self.refresh(force=True)
        return self._version

    def list_versions(self) -> list[dict[str, object]]:
        """Every snapshotted version, oldest first: version, documents, created_at, active."""
        if not self.versions_dir.is_dir():
            return []
        history = self.levers.state.corpus.history
        out = []
        for d in self.versions_dir.iterdir():
            if not d.is_dir() or not VERSION_ID.match(d.name):
                continue
            created = d.stat().st_mtime
            out.append(
                {
                    "version": d.name,
                    "documents": [p.stem for p in _md_files(d)],
                    "created_at": datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "active": d.name == self._version,
                    "in_history": d.name in history,
                    "_created": created,
                }
            )
        out.sort(key=lambda v: (v["_created"], v["version"]))
        for v in out:
            del v["_created"]
        return out

    # -- internals -----------------------------------------------------------------------------

    def _stat(self) -> Signature:
        return tuple((path.name, file_stamp(path)) for path in _md_files(self.corpus_dir))

    def _snapshot(self, version: str, files: Mapping[str, bytes]) -> None:
        final = self.versions_dir / version
        if final.is_dir():
            return
        # Build the snapshot under a temp name and rename it, so a crash never leaves a partial
        # snapshot under a real version id.
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.versions_dir / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for doc_id, raw in files.items():
            (tmp / f"{doc_id}.md").write_bytes(raw)
        try:
            tmp.rename(final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process snapshotted it first
            if not final.is_dir():
                raise

    def _restore(self, snapshot: Path) -> None:
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        wanted = {p.name: p for p in _md_files(snapshot)}
        for name, src in wanted.items():
            dest = self.corpus_dir / name
            raw = src.read_bytes()
            if dest.is_file() and dest.read_bytes() == raw:
                continue  # unchanged files keep their mtime: fewer spurious "changes" downstream
            write_atomic(dest, raw)
        for path in _md_files(self.corpus_dir):
            if path.name not in wanted:
                path.unlink(missing_ok=True)


__all__ = ["VERSION_ID", "LiveCorpus", "corpus_documents", "corpus_version"]
