"""The ledger's signed checkpoints, as `drillkit evidence verify` checks them: the signature, the key
behind it, and that the ledger still hashes to the signed root.

Trust: a checkpoint only proves something against a key the verifier trusts. By default that is
this home's own key and the configured signing key (`--key`, `$DRILLKIT_SIGNING_KEY`); pins given
with `--pubkey`/`--fingerprint` replace them, which is what a reviewer holding a published
fingerprint does. A copy of an older checkpoint kept elsewhere (`--checkpoint FILE`) must still be
a prefix of today's ledger: that catches a ledger rewritten and re-signed with the home's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from drillkit.errors import InputError
from drillkit.journal.ledger import Checkpoint, home_relative, ledger_path, read_checkpoint
from drillkit.journal.merkle import merkle_root_hex
from drillkit.journal.signing import (
    KEY_ENV,
    PUB_FILE,
    fingerprint,
    key_path,
    keys_dir,
    load_public_key,
    short_fingerprint,
    verify_signature,
)
from drillkit.reports.evidence_findings import Findings


class CheckpointStatus(BaseModel):
    file: str
    size: int
    root: str
    ts: str
    key_fingerprint: str
    signature_ok: bool
    trusted_by: str | None = None  # which trust anchor vouches for the key, None when none does


class TrustAnchors(BaseModel):
    """Fingerprints a checkpoint's key may have, each with what vouches for it."""

    fingerprints: dict[str, str] = {}
    pinned: bool = False  # --pubkey/--fingerprint given: only those count


def trust_anchors(
    home: Path, *, key: Path | str | None = None, pubkeys: Sequence[Path] = (), pins: Sequence[str] = ()
) -> TrustAnchors:
    """Explicit pins (`--pubkey`, `--fingerprint`) when given; else this home's key and the
    configured signing key (`--key` or `$DRILLKIT_SIGNING_KEY`), whichever exist."""
    anchors: dict[str, str] = {}
    for path in pubkeys:
        anchors[fingerprint(load_public_key(Path(path)))] = f"--pubkey {path}"
    for pin in pins:
        anchors[_normal_fingerprint(pin)] = "--fingerprint"
    if anchors:
        return TrustAnchors(fingerprints=anchors, pinned=True)
    home_pub = keys_dir(home) / PUB_FILE
    if home_pub.exists():
        anchors[fingerprint(load_public_key(home_pub))] = "this home's key"
    configured = key_path(home, key)
    if key and not configured.exists():
        raise InputError(f"--key {key}: no such key file")
    if configured.exists() and configured != keys_dir(home) / "ledger.key":
        anchors[fingerprint(load_public_key(configured))] = "--key" if key else f"${KEY_ENV}"
    elif configured.exists() and not home_pub.exists():
        anchors[fingerprint(load_public_key(configured))] = "this home's key"
    return TrustAnchors(fingerprints=anchors)


def check_checkpoint(
    home: Path,
    path: Path,
    lines: list[bytes],
    anchors: TrustAnchors,
    findings: Findings,
    *,
    external: bool,
) -> CheckpointStatus | None:
    rel = home_relative(home, path)
    if not path.exists():
        if external:
            raise InputError(f"{path}: no such checkpoint file")
        if lines:
            findings.error(rel, "missing", f"missing: the ledger's {len(lines)} entries are not covered by a signature")
        return None
    try:
        cp = read_checkpoint(path)
        public = cp.public_raw
        signature_ok = verify_signature(public, cp.signed_text(), cp.signature_raw)
    except (InputError, ValueError) as exc:
        if external:
            raise InputError(f"{path}: not a readable ledger checkpoint ({exc})") from None
        findings.error(rel, "invalid", f"unreadable: {exc}")
        return None
    signature_ok = signature_ok and fingerprint(public) == cp.key_fingerprint
    status = CheckpointStatus(
        file=rel,
        size=cp.size,
        root=cp.root,
        ts=cp.ts,
        key_fingerprint=cp.key_fingerprint,
        signature_ok=signature_ok,
        trusted_by=anchors.fingerprints.get(cp.key_fingerprint),
    )
    what = "the saved checkpoint" if external else "the checkpoint"
    if not signature_ok:
        findings.error(rel, "forged", f"{what}'s Ed25519 signature does not verify: it was edited or forged")
    if status.trusted_by is None:
        short = short_fingerprint(cp.key_fingerprint)
        if anchors.fingerprints:
            known = ", ".join(short_fingerprint(f) for f in anchors.fingerprints)
            findings.error(rel, "untrusted_key", f"{what} is signed by {short}, not by a trusted key ({known})")
        else:
            findings.warning(
                rel,
                "untrusted_key",
                f"no trusted key to compare with: {what} is signed by {cp.key_fingerprint}; "
                "pin it with --fingerprint or --pubkey",
            )
    _check_coverage(home, cp, lines, rel, what, findings)
    return status


def _check_coverage(home: Path, cp: Checkpoint, lines: list[bytes], rel: str, what: str, findings: Findings) -> None:
    ledger = home_relative(home, ledger_path(home))
    n = len(lines)
    if cp.size > n:
        span = f"entry {cp.size}" if cp.size == n + 1 else f"entries {n + 1}–{cp.size}"
        findings.error(
            ledger,
            "dropped",
            f"line {n + 1}: {what} ({rel}) signed {cp.size} entries, the ledger holds {n}: {span} dropped",
            line=n + 1,
            seq=n + 1,
        )
    elif not prefix_ok(lines, cp):
        findings.error(
            ledger,
            "edited",
            f"entries 1–{cp.size} no longer hash to the root signed in {what} ({rel}, {cp.ts}): "
            "the ledger was edited or rewritten after signing",
        )
    if cp.size < n and what == "the checkpoint":
        span = f"line {cp.size + 1}" if n == cp.size + 1 else f"lines {cp.size + 1}–{n}"
        findings.error(
            ledger,
            "unsigned",
            f"{span}: added after the last signed checkpoint (which covers {cp.size}): "
            "not written by drillkit's recorder",
            line=cp.size + 1,
            seq=cp.size + 1,
        )


def prefix_ok(lines: list[bytes], cp: Checkpoint) -> bool:
    """True when the first `cp.size` ledger lines hash to the checkpoint's root."""
    return cp.size <= len(lines) and merkle_root_hex(lines[: cp.size]) == cp.root


def _normal_fingerprint(pin: str) -> str:
    digest = pin.removeprefix("ed25519:").strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(f"--fingerprint {pin}: expected ed25519:<64 hex digits> (see 'drillkit evidence key')")
    return "ed25519:" + digest


__all__ = ["CheckpointStatus", "TrustAnchors", "check_checkpoint", "prefix_ok", "trust_anchors"]
