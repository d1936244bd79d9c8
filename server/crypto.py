"""Personal data at rest: AES-GCM encryption, HMAC blind indexes, masking.

Ciphertexts carry the id of the key that made them (``k1:<base64>``) so a new
key can be added later and old values re-encrypted in the background: rotation
means adding a key id, never guessing which key fits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.config import Settings

NONCE_BYTES = 12
CURRENT_KEY_ID = "k1"


@dataclass(frozen=True)
class Cipher:
    keys: dict[str, bytes]
    current: str
    blind_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher:
        return cls(
            keys={CURRENT_KEY_ID: base64.b64decode(settings.data_key)},
            current=CURRENT_KEY_ID,
            blind_key=base64.b64decode(settings.blind_index_key),
        )

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext``; ``context`` (e.g. "staff.phone") is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        key_id, _, body = token.partition(":")
        raw = base64.b64decode(body)
        return AESGCM(self.keys[key_id]).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()

    def blind_index(self, value: str, *, context: str) -> str:
        """A keyed hash for equality lookup of an encrypted field (normalise ``value`` first)."""
        return hmac.new(self.blind_key, f"{context}:{value}".encode(), hashlib.sha256).hexdigest()


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits[-11:] if len(digits) > 11 and digits.startswith("86") else digits


def mask_phone(phone: str) -> str:
    """138****5678 — enough for a person to recognise their own number."""
    digits = normalise_phone(phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str) -> str:
    """张** — the family name stays so staff can still talk to the person."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""
