"""How the console shows a record: idents masked, values pretty-printed, times in Europe/Oslo.

An ident (fødselsnummer, D-nummer: 11 digits) is shown as its first six digits and five stars
(`123456*****`) everywhere except in a detail view opened to show it, whose read is audited.
Any run of exactly 11 digits is treated as an ident, wherever it appears (a value, a key, a
header): a false positive only hides a number, a false negative would show a person.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
from lxml import etree

IDENT = re.compile(r"(?<!\d)(\d{6})\d{5}(?!\d)")


def mask(text: str | None) -> str | None:
    """`text` with every ident masked."""
    if text is None:
        return None
    return IDENT.sub(r"\1*****", text)


def has_ident(text: str | None) -> bool:
    return bool(text) and IDENT.search(text) is not None  # type: ignore[arg-type]


def mask_obj(obj: Any) -> Any:
    """A JSON value with every string (and key) masked."""
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, dict):
        return {mask(k): mask_obj(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_obj(v) for v in obj]
    return obj


_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_blank_text=True)


def pretty(body: str | None, value: bytes | None = None) -> tuple[str, str]:
    """(format, text): a value as indented JSON or XML when it is one, else as it is."""
    if body is None:
        return "tombstone", ""
    stripped = body.lstrip()
    if stripped.startswith("<"):
        try:
            root = etree.fromstring(value if value is not None else body.encode(), _XML)
            return "xml", etree.tostring(root, pretty_print=True, encoding="unicode")
        except (etree.XMLSyntaxError, ValueError):
            return "text", body
    try:
        return "json", orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return "text", body


def oslo(ms: int | None) -> str:
    """A record timestamp as Europe/Oslo wall time, `YYYY-MM-DD HH:MM:SS`."""
    if ms is None:
        return "—"
    try:
        from helved.oslo import oslo_wall_time

        return oslo_wall_time(ms).strftime("%Y-%m-%d %H:%M:%S")
    except Exception:  # a timestamp out of range for the tz database
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short(text: str | None, n: int = 120) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"
