"""The ledger's signed checkpoint: "the ledger had `size` entries with tree head `root` at `ts`".

`ledger.checkpoint.json`: `{origin, size, root, ts, key_fingerprint, public_key, signature}`,
re-signed with Ed25519 on every append (`drillkit.journal.ledger.record`). `root` is RFC 6962's
tree head over the ledger's lines, and the signature covers the C2SP-style note text
`origin\\nsize\\nbase64(root)\\ntime ts\\n` (`Checkpoint.signed_text`). The file is replaced
atomically, so a reader sees the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drillkit.errors import InputError
from drillkit.journal.merkle import merkle_root_hex
from drillkit.journal.signing import SigningKey
from drillkit.journal.writer import format_ts

CHECKPOINT_FILE = "ledger.checkpoint.json"
ORIGIN = "drillkit-ledger/v1"


class Checkpoint(BaseModel):
    """The signed statement "the ledger had `size` entries with tree head `root` at `ts`"."""

    model_config = ConfigDict(extra="forbid")

    origin: str = ORIGIN
    size: int = Field(ge=0)
    root: str = Field(pattern=r"^[0-9a-f]{64}$")
    ts: str
    key_fingerprint: str
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    signature: str  # base64 Ed25519 signature of signed_text()

    def signed_text(self) -> bytes:
        root_b64 = base64.b64encode(bytes.fromhex(self.root)).decode()
        return f"{self.origin}\n{self.size}\n{root_b64}\ntime {self.ts}\n".encode()

    @property
    def public_raw(self) -> bytes:
        return base64.b64decode(self.public_key, validate=True)

    @property
    def signature_raw(self) -> bytes:
        return base64.b64decode(self.signature, validate=True)


def checkpoint_path(home: Path) -> Path:
    return Path(home) / CHECKPOINT_FILE


def read_checkpoint(path: Path) -> Checkpoint:
    try:
        return Checkpoint.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such checkpoint") from None
    except ValueError as exc:
        raise InputError(f"{path}: not a ledger checkpoint ({first_error(exc)})") from None


def sign_checkpoint(lines: list[bytes], signer: SigningKey, ts: str | None = None) -> Checkpoint:
    unsigned = Checkpoint(
        size=len(lines),
        root=merkle_root_hex(lines),
        ts=ts or format_ts(datetime.now(UTC)),
        key_fingerprint=signer.fingerprint,
        public_key=base64.b64encode(signer.public_raw).decode(),
        signature="",
    )
    signature = base64.b64encode(signer.sign(unsigned.signed_text())).decode()
    return unsigned.model_copy(update={"signature": signature})


def write_checkpoint(home: Path, lines: list[bytes], signer: SigningKey) -> Checkpoint:
    """Sign the tree head over `lines` and replace the checkpoint file atomically."""
    checkpoint = sign_checkpoint(lines, signer)
    path = checkpoint_path(home)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(checkpoint.model_dump(), indent=2) + "\n")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return checkpoint


def first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "entry"
        return f"{where}: {first['msg']}"
    return str(exc)


__all__ = [
    "CHECKPOINT_FILE",
    "ORIGIN",
    "Checkpoint",
    "checkpoint_path",
    "first_error",
    "read_checkpoint",
    "sign_checkpoint",
    "write_checkpoint",
]
