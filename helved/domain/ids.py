"""Deterministic identifiers. These functions are permanent contracts: never change their output.

uid
    `uuid5(UID_NAMESPACE, encode(parts))` where `parts` is
    `("uid/v1", fagsystem, sakId, meldeperiode, klassekode)` and `encode` writes every part as
    its UTF-8 byte length in decimal, a colon, and the bytes (a netstring without the trailing
    comma). The length prefix makes the encoding unambiguous: ("1", "23") and ("12", "3") encode
    differently. UUIDv5 is SHA-1 based; a collision between two real payment chains is not a
    practical concern (unlike the 32-bit string hash of the model system).

delytelseId
    The 16 bytes of `uuid5(UID_NAMESPACE, encode(("delytelse/v1", fagsystem, sakId, seq, index)))`
    as standard base64 (24 characters, fits OS's 30). `seq` is the sak's count of Oppdrag built
    before this one and `index` the line's position in the Oppdrag, so ids are unique across all
    Oppdrag of a sak and identical on every replay of the same input.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

UID_NAMESPACE = uuid.UUID("6f1c1e4a-6d0b-5c58-9a53-68656c766564")


def encode_parts(*parts: str) -> bytes:
    """Length-prefixed encoding of a tuple of strings (unambiguous, unlike concatenation)."""
    out: list[bytes] = []
    for part in parts:
        raw = part.encode("utf-8")
        out.append(b"%d:" % len(raw))
        out.append(raw)
    return b"".join(out)


_NAMESPACE_BYTES = UID_NAMESPACE.bytes


def _uuid5_bytes(data: bytes) -> bytes:
    """The 16 bytes of `uuid.uuid5(UID_NAMESPACE, data.decode())`, without building a UUID:
    SHA-1 of namespace + name, first 16 bytes, version 5 and the RFC 4122 variant set."""
    h = bytearray(hashlib.sha1(_NAMESPACE_BYTES + data).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    return bytes(h)


def _uuid5(data: bytes) -> uuid.UUID:
    # `encode_parts` output is always valid UTF-8, so this hashes exactly `data`.
    return uuid.uuid5(UID_NAMESPACE, data.decode("utf-8"))


def utbetaling_uid(fagsystem: str, sak_id: str, meldeperiode: str, klassekode: str) -> str:
    """The uid of a derived payment chain (dagpenger, tiltakspenger)."""
    x = _uuid5_bytes(encode_parts("uid/v1", fagsystem, sak_id, meldeperiode, klassekode)).hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def delytelse_id(fagsystem: str, sak_id: str, seq: int, index: int) -> str:
    """The delytelseId of line `index` of the sak's Oppdrag number `seq` (both from 0)."""
    u = _uuid5_bytes(encode_parts("delytelse/v1", fagsystem, sak_id, str(seq), str(index)))
    return base64.b64encode(u).decode("ascii")
