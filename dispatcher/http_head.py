"""The head of an HTTP/1.1 response: status line and header fields (sans-IO).

`parse_head(block)` -> (status, reason, lower-cased headers, keep-alive), for
the block before the blank line; dispatcher/http_parse.py frames the body.
Duplicate fields follow RFC 9112: differing Content-Length values are a
framing error, Transfer-Encoding fields join into one list; anything else
malformed raises HttpError quoting the line.
"""

from __future__ import annotations

from dispatcher.errors import HttpError

__all__ = ["parse_head"]

# Field names as sent (a valid name: not empty, no blank at either end) ->
# lower-cased: the same few names come on every response, and a hit skips
# the checks and the lower().  Bounded: a server inventing names fills it once.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 128


def parse_head(head: bytes | bytearray) -> tuple[int, str, dict[str, str], bool]:
    """Status, reason, lower-cased headers, and whether the connection stays open."""
    text = head.decode("latin-1")  # latin-1 decodes every byte
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HttpError(f"bad status line {status_line[:80]!r}")
    code = parts[1]
    if len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise HttpError(f"bad status code in {status_line[:80]!r}")
    headers: dict[str, str] = {}
    names = _NAMES
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        key = names.get(name)
        if key is None or not sep:
            if not sep or not name or name[0] in " \t" or name[-1] in " \t":
                if not line:
                    continue
                raise HttpError(f"bad header line {line[:80]!r}")
            key = name.lower()
            if len(names) < _NAMES_MAX:
                names[name] = key
        value = value.strip(" \t")
        if key in headers:
            if key == "content-length" and headers[key] != value:
                # RFC 9112 section 6.3: differing lengths are a framing error.
                raise HttpError(f"conflicting Content-Length fields {headers[key]!r} and {value!r}")
            if key == "transfer-encoding":  # a list split over fields: one list
                value = f"{headers[key]}, {value}"
        headers[key] = value
    conn = headers.get("connection")
    keep = parts[0] != "HTTP/1.0" if conn is None else _keep_alive(parts[0], conn)
    return int(code), parts[2] if len(parts) > 2 else "", headers, keep


def _keep_alive(version: str, connection: str) -> bool:
    """May the connection carry another response after this one?"""
    tokens = [t.strip(" \t") for t in connection.lower().split(",")]
    if "close" in tokens:
        return False
    return version != "HTTP/1.0" or "keep-alive" in tokens
