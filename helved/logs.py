"""helved's log format: plain text (the default) or one JSON object per line.

`HELVED_LOG_FORMAT=json` (the container image sets it) gives, per log record, one line:

    {"time": "2025-08-18T07:30:00.123Z", "level": "INFO", "logger": "helved.bridge",
     "message": "...", "sak": "...", "key": "...", "topic": "...", "partition": 0, "offset": 7}

`time` is UTC. The ids come from the record's `extra` when given (`log.info("...", extra={"sak":
key, "topic": t, "partition": p, "offset": o})`), only those in `ID_FIELDS`; an `ident` is never
written, whatever a caller passes. As a second line of defence both formats mask every
standalone run of exactly 11 digits (the shape of a fødselsnummer/D-nummer) in the message and
in tracebacks. `plain` (or unset) keeps `time level logger message`.

`configure()` is called once by `helved.cli.main` after the level is set; it changes only the
formatters of the plain stream handlers on the root logger (pytest's capture handlers and files
that a command set up itself are left alone).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

FORMAT_ENV = "HELVED_LOG_FORMAT"
FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# The ids a log line may carry (from `extra`), in this order. Never `ident`.
ID_FIELDS = ("sak", "fagsystem", "key", "uid", "topic", "partition", "offset", "reason", "status")

_ELEVEN_DIGITS = re.compile(r"(?<!\d)\d{11}(?!\d)")
MASK = "*" * 11


def mask_idents(text: str) -> str:
    """`text` with every standalone 11-digit number replaced by asterisks."""
    return _ELEVEN_DIGITS.sub(MASK, text)


class PlainFormatter(logging.Formatter):
    """`time level logger message`, idents masked."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return mask_idents(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_idents(record.getMessage()),
        }
        for name in ID_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value if isinstance(value, int | float | bool) else mask_idents(str(value))
        if record.exc_info:
            out["exception"] = mask_idents(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = mask_idents(record.exc_text)
        if record.stack_info:
            out["stack"] = mask_idents(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def log_format(env: dict[str, str] | None = None) -> str:
    """The format `HELVED_LOG_FORMAT` asks for: `plain` (unset or empty) or `json`.
    Anything else is `plain`, with a warning once logging is set up."""
    value = (env if env is not None else os.environ).get(FORMAT_ENV, "").strip().lower()
    return value or "plain"


def formatter(name: str) -> logging.Formatter:
    return JsonFormatter() if name == "json" else PlainFormatter()


def configure(env: dict[str, str] | None = None) -> str:
    """Set the format of the root logger's stream handlers from `HELVED_LOG_FORMAT` (adding a
    stderr handler when there is none); the format used."""
    name = log_format(env)
    known = name in FORMATS
    chosen = formatter(name if known else "plain")
    root = logging.getLogger()
    handlers = [h for h in root.handlers if type(h) is logging.StreamHandler]
    if not handlers:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        handlers = [handler]
    for h in handlers:
        h.setFormatter(chosen)
    if not known:
        logging.getLogger("helved.logs").warning(
            "%s=%r is not one of %s: using plain", FORMAT_ENV, name, ", ".join(FORMATS)
        )
        return "plain"
    return name
