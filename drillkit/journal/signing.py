"""The ledger's Ed25519 signing key: created on first use, or supplied by the team.

    key = signing_key(home)                    # --key FILE, else $DRILLKIT_SIGNING_KEY, else <home>/keys/
    key.sign(data) -> bytes; key.fingerprint -> "ed25519:<64 hex>"
    verify_signature(public_raw, data, signature) -> bool

Where the key comes from, in order: an explicit path (`--key FILE`), `$DRILLKIT_SIGNING_KEY`
(a path), else `<home>/keys/ledger.key`, generated on first use (mode 0600, its directory 0700)
with the public key next to it as `ledger.pub`. A key file is a PKCS#8 PEM private key
(`openssl genpkey -algorithm ed25519`) or the 32 raw seed bytes (also accepted as 64 hex
characters). The private key is never printed, logged or written anywhere else.

Why a team key: a key generated inside the drillkit home protects against accidental edits and
against anyone who can change a journal but not the key; someone who controls the whole home can
re-sign. A key kept elsewhere (a CI secret, an HSM-backed file mount) and a fingerprint published
outside the home (a report, a commit) close that gap. The fingerprint is the SHA-256 of the raw
32-byte public key, shown as `ed25519:<hex>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from drillkit.errors import InputError

KEY_ENV = "DRILLKIT_SIGNING_KEY"
KEY_FILE = "ledger.key"
PUB_FILE = "ledger.pub"
_HEX_SEED = re.compile(rb"^\s*([0-9a-fA-F]{64})\s*$")


def fingerprint(public_raw: bytes) -> str:
    """`ed25519:` + SHA-256 hex of the raw 32-byte public key."""
    return "ed25519:" + hashlib.sha256(public_raw).hexdigest()


def short_fingerprint(fp: str) -> str:
    """`ed25519:ab12cd34…` for people; the full form stays in JSON."""
    algo, _, digest = fp.partition(":")
    return f"{algo}:{digest[:16]}…" if digest else fp


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key and where it came from (`source`: a path, for messages)."""

    private: Ed25519PrivateKey
    source: str

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def __repr__(self) -> str:  # never show key material, even in a traceback
        return f"SigningKey(source={self.source!r}, fingerprint={self.fingerprint!r})"


def keys_dir(home: Path) -> Path:
    return home / "keys"


def key_path(home: Path, explicit: Path | str | None = None) -> Path:
    """The key file that would be used: explicit, else $DRILLKIT_SIGNING_KEY, else the home's."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env).expanduser()
    return keys_dir(home) / KEY_FILE


def signing_key(home: Path, explicit: Path | str | None = None, *, create: bool = True) -> SigningKey:
    """Load the signing key (see module doc); create the home's key when missing and `create`.

    A supplied key (explicit or from the environment) that is missing or unreadable is an
    InputError: silently falling back to another key would sign with a key nobody expects.
    """
    path = key_path(home, explicit)
    supplied = path != keys_dir(home) / KEY_FILE
    if not path.exists():
        if supplied:
            where = "--key" if explicit else f"${KEY_ENV}"
            raise InputError(f"{path}: no such signing key (from {where})")
        if not create:
            raise InputError(f"{path}: no signing key yet (one is created when the first run is recorded)")
        return _create(path)
    return SigningKey(load_private_key(path), str(path))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM, 32 raw bytes or 64 hex characters; InputError naming the file otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the signing key ({exc.strerror})") from None
    if b"-----BEGIN" in raw:
        try:
            key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}: not a readable unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InputError(f"{path}: expected an Ed25519 private key, got {type(key).__name__}")
        return key
    match = _HEX_SEED.match(raw)
    if match:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(match.group(1).decode()))
    if len(raw) == 32:
        return Ed25519PrivateKey.from_private_bytes(raw)
    raise InputError(f"{path}: expected an Ed25519 key as PKCS#8 PEM, 32 raw bytes or 64 hex characters")


def load_public_key(path: Path) -> bytes:
    """Raw public key bytes from a PEM public key, a PEM private key, 32 raw bytes or 64 hex."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the public key ({exc.strerror})") from None
    if b"PRIVATE KEY" in raw:
        return SigningKey(load_private_key(path), str(path)).public_raw
    if b"-----BEGIN" in raw:
        try:
            key = serialization.load_pem_public_key(raw)
        except ValueError as exc:
            raise InputError(f"{path}: not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InputError(f"{path}: expected an Ed25519 public key, got {type(key).__name__}")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    match = _HEX_SEED.match(raw)
    if match:
        return bytes.fromhex(match.group(1).decode())
    if len(raw) == 32:
        return raw
    raise InputError(f"{path}: expected an Ed25519 public key as PEM, 32 raw bytes or 64 hex characters")


def verify_signature(public_raw: bytes, data: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _create(path: Path) -> SigningKey:
    """Generate the home's key (mode 0600). Written to a temporary name, then hard-linked into
    place, so a reader never sees half a key and two first uses cannot both win."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process created it first: use theirs
            return SigningKey(load_private_key(path), str(path))
    finally:
        tmp.unlink(missing_ok=True)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (path.parent / PUB_FILE).write_bytes(public_pem)
    return SigningKey(private, str(path))


__all__ = [
    "KEY_ENV",
    "SigningKey",
    "fingerprint",
    "key_path",
    "keys_dir",
    "load_private_key",
    "load_public_key",
    "short_fingerprint",
    "signing_key",
    "verify_signature",
]
