"""Go's hashing and JSON escaping, as kruise's names and hashes depend on them.

kruise names revisions and records hashes with Go's standard library: ``hash/fnv`` (FNV-1 for
``HashControllerRevision``, FNV-1a for the env-from-metadata and volumeClaimTemplates hashes),
``rand.SafeEncodeString`` for the revision name suffix, and ``json.Marshal``, which escapes
``<``, ``>``, ``&``, U+2028 and U+2029 inside strings where orjson writes them as they are.
These are the one copy of each; ``revisions``, ``envmeta`` and CloneSet's ``claimhash`` use them.
Pure.
"""

from __future__ import annotations

import orjson

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

#: What Go's ``json.Marshal`` escapes that orjson writes as is (HTML-safe and JS line separators);
#: these bytes occur only inside JSON strings, so replacing them is exact.
_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def fnv32(data: bytes) -> int:
    """FNV-1 32-bit (Go's ``hash/fnv.New32``)."""
    value = _FNV32_OFFSET
    for byte in data:
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
        value ^= byte
    return value


def fnv32a(data: bytes) -> int:
    """FNV-1a 32-bit (Go's ``hash/fnv.New32a``)."""
    value = _FNV32_OFFSET
    for byte in data:
        value ^= byte
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each byte mapped onto consonants and digits, no vowels."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def go_escape(raw: bytes) -> bytes:
    """orjson output made Go's ``json.Marshal`` bytes (its string escapes applied)."""
    for plain, escaped in _GO_ESCAPES:
        raw = raw.replace(plain, escaped)
    return raw


def go_json(value: object, *, sort_keys: bool = False) -> bytes:
    """Go ``json.Marshal`` bytes of plain JSON data (``sort_keys``: a Go map's sorted keys)."""
    return go_escape(orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None))
