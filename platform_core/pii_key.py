"""The key personal data is hashed under (dbt's ``hash_pii`` macro reads ``PII_HASH_KEY``)."""

from __future__ import annotations

import os
import sys

from .paths import local_dir


def pii_hash_key() -> str:
    """The key dbt hashes personal data under: ``$PII_HASH_KEY``, else the local key file
    ``.local/pii_hash_key``, created on first use (32 random bytes as hex, readable by you only)
    with one line on stderr saying so. Keep it: a new key changes every hash (README, Security)."""
    key = os.environ.get("PII_HASH_KEY", "").strip()
    if key:
        return key
    import secrets

    path = local_dir() / "pii_hash_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".pii_hash_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)  # atomic: a key another process made at the same time wins
            print(
                f"PII_HASH_KEY is not set: created a local key in {path} (keep it: a new key "
                "changes every personal-data hash; see README.md, Security)",
                file=sys.stderr,
            )
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
