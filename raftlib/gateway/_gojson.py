"""Go's JSON as etcd 3.4's gateway reads and writes it: ``encoding/json``'s scanner and
``golang/protobuf``'s ``jsonpb`` field rules, with their error texts.

etcd 3.4 serves its gRPC API as JSON through grpc-gateway v1, which decodes bodies with
``jsonpb`` on top of Go's ``encoding/json``. Clients rely on that decoder's leniency, and on
its exact error texts, so this module reproduces it rather than ``json.loads``:

- only the first JSON value of a body is read (trailing bytes are ignored); an empty body is an
  empty request; ``null`` anywhere means "not set";
- each field is accepted under its proto name (``prev_kv``) or its camelCase JSON name
  (``prevKv``); unknown fields are ignored;
- int64/uint64 fields take a JSON number or a string holding one (``"5"``); enums take a name
  or a number; bytes are standard base64 (padding required, newlines skipped);
- errors carry Go's messages (``invalid character 'x' looking for beginning of value``,
  ``json: cannot unmarshal string into Go value of type bool``, ``illegal base64 data at
  input byte 3``), raised as :class:`GatewayError` with HTTP 400 and gRPC code 3
  (InvalidArgument).

Bytes go out as standard base64 (:func:`_b64`), the one encoding rule that both the server's
responses and the client's requests need. Which fields etcd's messages have is
:mod:`raftlib.gateway._server`'s business, not this module's.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any


class GatewayError(Exception):
    """A request the gateway refuses: ``status`` is the HTTP status, ``code`` the gRPC code
    and ``message`` the text etcd sends for the same body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> GatewayError:
    return GatewayError(400, 3, message)


# --------------------------------------------------------------------- Go's JSON scanner
#
# A parse keeps every scalar's raw bytes, because jsonpb treats some of them textually (an
# int64 in a string is the string's raw contents re-parsed as JSON; an enum name is not
# unescaped).


@dataclass(frozen=True, slots=True)
class _Lit:
    """A JSON scalar: ``kind`` is "string", "number", "bool" or "null"."""

    kind: str
    raw: bytes
    text: str = ""  # the decoded contents of a string


_Node = dict[str, Any] | list[Any] | _Lit


class _Syntax(Exception):
    pass


class _Eof(Exception):
    pass


_WS = b" \t\r\n"
_MAX_DEPTH = 10000  # Go's maxNestingDepth
_STR_SPECIAL = re.compile(rb'["\\\x00-\x1f]')
_HEX = b"0123456789abcdefABCDEF"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {ord("b"): "\b", ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t",
            ord("\\"): "\\", ord("/"): "/", ord('"'): '"'}


def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how the scanner names an offending byte."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    ch = chr(c)
    if ch.isprintable():
        return f"'{ch}'" if ch != "\\" else "'\\\\'"
    named = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
    if c in named:
        return f"'{named[c]}'"
    return f"'\\x{c:02x}'" if c < 0x80 else f"'\\u{c:04x}'"


def _pair_surrogates(text: str) -> str:
    """Join ``\\uD83D\\uDE00``-style escaped pairs into one character and turn lone
    surrogates into U+FFFD, as Go's ``unquote`` does."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.s = data
        self.i = 0

    def fail(self, context: str) -> _Syntax:
        return _Syntax(f"invalid character {_quote_char(self.s[self.i])} {context}")

    def peek(self) -> int:
        """The next byte after whitespace."""
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1
        if self.i >= len(self.s):
            raise _Eof
        return self.s[self.i]

    def value(self) -> _Node:
        """One JSON value. Iterative, so that deep nesting cannot exhaust Python's stack;
        like Go's scanner it refuses more than 10000 nested arrays and objects."""
        stack: list[tuple[dict[str, Any] | list[Any], str]] = []  # open containers, keys
        while True:
            c = self.peek()
            node: _Node
            if c in b"{[":
                if len(stack) >= _MAX_DEPTH:
                    raise self.fail("exceeded max depth")
                self.i += 1
                if c == ord("{"):
                    if self.peek() == ord("}"):
                        self.i += 1
                        node = {}
                    else:
                        stack.append(({}, self.key()))
                        continue
                elif self.peek() == ord("]"):
                    self.i += 1
                    node = []
                else:
                    stack.append(([], ""))
                    continue
            else:
                node = self.scalar(c)
            # Attach the finished value to its container; close containers that end here.
            while True:
                if not stack:
                    return node
                container, key = stack[-1]
                c = self.peek()
                self.i += 1
                if isinstance(container, dict):
                    container[key] = node  # a repeated key: the last one wins, as in Go
                    if c == ord(","):
                        stack[-1] = (container, self.key())
                        break
                    if c != ord("}"):
                        self.i -= 1
                        raise self.fail("after object key:value pair")
                else:
                    container.append(node)
                    if c == ord(","):
                        break
                    if c != ord("]"):
                        self.i -= 1
                        raise self.fail("after array element")
                stack.pop()
                node = container

    def key(self) -> str:
        """An object key and its colon."""
        if self.peek() != ord('"'):
            raise self.fail("looking for beginning of object key string")
        key = self.string().text
        if self.peek() != ord(":"):
            raise self.fail("after object key")
        self.i += 1
        return key

    def scalar(self, c: int) -> _Lit:
        if c == ord('"'):
            return self.string()
        if c == ord("-") or ord("0") <= c <= ord("9"):
            return self.number()
        for word, kind in ((b"true", "bool"), (b"false", "bool"), (b"null", "null")):
            if c == word[0]:
                start = self.i
                for expect in word[1:]:
                    self.i += 1
                    if self.i >= len(self.s):
                        raise _Eof
                    if self.s[self.i] != expect:
                        raise self.fail(f"in literal {word.decode()} (expecting "
                                        f"{_quote_char(expect)})")
                self.i += 1
                return _Lit(kind, self.s[start:self.i])
        raise self.fail("looking for beginning of value")

    def string(self) -> _Lit:
        start = self.i
        self.i += 1
        parts: list[str] = []
        run = self.i
        s = self.s
        while True:
            m = _STR_SPECIAL.search(s, self.i)
            if m is None:
                raise _Eof
            self.i = m.start()
            c = s[self.i]
            if c == ord('"'):
                parts.append(s[run:self.i].decode("utf-8", "replace"))
                self.i += 1
                return _Lit("string", s[start:self.i], _pair_surrogates("".join(parts)))
            if c < 0x20:
                raise self.fail("in string literal")
            parts.append(s[run:self.i].decode("utf-8", "replace"))
            self.i += 1
            if self.i >= len(s):
                raise _Eof
            e = s[self.i]
            if e in _ESCAPES:
                parts.append(_ESCAPES[e])
                self.i += 1
            elif e == ord("u"):
                parts.append(chr(self.hex4()))
            else:
                raise self.fail("in string escape code")
            run = self.i

    def hex4(self) -> int:
        self.i += 1
        for _ in range(4):
            if self.i >= len(self.s):
                raise _Eof
            if self.s[self.i] not in _HEX:
                raise self.fail("in \\u hexadecimal character escape")
            self.i += 1
        return int(self.s[self.i - 4:self.i], 16)

    def digits(self) -> None:
        while self.i < len(self.s) and ord("0") <= self.s[self.i] <= ord("9"):
            self.i += 1

    def need_digit(self, context: str) -> None:
        if self.i >= len(self.s):
            raise _Eof
        if not ord("0") <= self.s[self.i] <= ord("9"):
            raise self.fail(context)

    def number(self) -> _Lit:
        start = self.i
        if self.s[self.i] == ord("-"):
            self.i += 1
            self.need_digit("in numeric literal")
        if self.s[self.i] == ord("0"):
            self.i += 1
        else:
            self.digits()
        if self.i < len(self.s) and self.s[self.i] == ord("."):
            self.i += 1
            self.need_digit("after decimal point in numeric literal")
            self.digits()
        if self.i < len(self.s) and self.s[self.i] in b"eE":
            self.i += 1
            if self.i < len(self.s) and self.s[self.i] in b"+-":
                self.i += 1
            self.need_digit("in exponent of numeric literal")
            self.digits()
        return _Lit("number", self.s[start:self.i])


def _fast_object(body: bytes) -> dict[str, Any] | None:
    """What clients nearly always send, parsed by the C JSON parser: one flat object of plain
    strings (no escapes), whole numbers and booleans. It yields the very nodes the Go-faithful
    parser would; anything else (None) takes that parser, which also names every error."""
    if (b"\\" in body or b"\x00" in body or not body.isascii()
            or not body.lstrip().startswith(b"{")):
        # Escapes; UTF-16/32 bodies that json.loads would accept but Go not; and invalid
        # UTF-8, which json.loads keeps as lone surrogates where Go substitutes U+FFFD.
        return None
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting: the iterative parser takes it
        return None
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, bool):
            out[k] = _Lit("bool", b"true" if v else b"false")
        elif isinstance(v, str):
            out[k] = _Lit("string", b'"' + v.encode() + b'"', v)
        elif isinstance(v, int):
            out[k] = _Lit("number", str(v).encode())
        else:
            return None
    return out


def _decode_first(body: bytes) -> _Node | None:
    """Go's ``json.Decoder.Decode``: the first value of ``body`` (None if there is none)."""
    fast = _fast_object(body)
    if fast is not None:
        return fast
    p = _Parser(body)
    try:
        p.peek()
    except _Eof:
        return None
    try:
        return p.value()
    except _Eof:
        raise _bad("unexpected EOF") from None
    except _Syntax as e:
        raise _bad(str(e)) from None


def _unmarshal_whole(data: bytes) -> _Node:
    """Go's ``json.Unmarshal`` syntax check: exactly one value, then only whitespace. At the
    end Go's scanner is fed one space, which names the error of a value cut short."""
    p = _Parser(data + b" ")
    try:
        v = p.value()
    except _Eof:
        raise _bad("unexpected end of JSON input") from None
    except _Syntax as e:
        raise _bad(str(e)) from None
    try:
        p.peek()
    except _Eof:
        return v
    raise _bad(str(p.fail("after top-level value")))


# --------------------------------------------------------------------- jsonpb decoding


def _kind_name(node: _Node) -> str:
    if isinstance(node, dict):
        return "object"
    if isinstance(node, list):
        return "array"
    return node.kind


def _type_error(node: _Node, go_type: str, with_number: bool = False) -> GatewayError:
    what = _kind_name(node)
    if with_number and isinstance(node, _Lit) and node.kind == "number":
        what = f"number {node.raw.decode()}"
    return _bad(f"json: cannot unmarshal {what} into Go value of type {go_type}")


def _is_null(node: _Node) -> bool:
    return isinstance(node, _Lit) and node.kind == "null"


def _message(node: _Node | None) -> dict[str, Any]:
    """A nested message's fields (jsonpb reads it as ``map[string]json.RawMessage``)."""
    if node is None or _is_null(node):
        return {}
    if not isinstance(node, dict):
        raise _type_error(node, "map[string]json.RawMessage")
    return node


def _camel(name: str) -> str:
    """protoc's JSON name: underscores dropped, the letter after each one upper-cased."""
    head, *rest = name.split("_")
    return head + "".join(r[:1].upper() + r[1:] for r in rest)


def _field(msg: dict[str, Any], name: str) -> _Node | None:
    """The field ``name`` under its proto or camelCase name (camelCase wins if both)."""
    camel = _camel(name)
    node = msg.get(camel, msg.get(name))
    return None if node is None or _is_null(node) else node


def _bytes(msg: dict[str, Any], name: str) -> bytes:
    node = _field(msg, name)
    if node is None:
        return b""
    if isinstance(node, list):
        # encoding/json fills a []byte from an array of numbers too (nulls are zeros).
        return bytes(0 if _is_null(b) else _byte(b) for b in node)
    if not isinstance(node, _Lit) or node.kind != "string":
        raise _type_error(node, "[]uint8")
    return _go_b64decode(node.text.encode())


def _byte(node: _Node) -> int:
    if not isinstance(node, _Lit) or node.kind != "number":
        raise _type_error(node, "uint8")
    return _go_int(node, "uint8", 0, 255)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALID = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _go_b64decode(src: bytes) -> bytes:
    """``base64.StdEncoding.Decode``: padding required, ``\\r`` and ``\\n`` skipped, and
    Go's offset in the error."""
    stripped = src.replace(b"\n", b"").replace(b"\r", b"")
    if _B64_VALID.fullmatch(stripped):
        return base64.b64decode(stripped)
    err = _go_b64_error(src)
    raise _bad(f"illegal base64 data at input byte {err if err is not None else 0}")


def _go_b64_error(src: bytes) -> int | None:
    """The offset Go's ``decodeQuantum`` reports for ``src``, None if it is valid."""
    si, n = 0, len(src)
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                return si - j if j else None
            c = src[si]
            si += 1
            if c in _B64_ALPHABET:
                j += 1
                continue
            if c in b"\r\n":
                continue
            if c != ord("=") or j < 2:
                return si - 1
            if j == 2:  # a second "=" must follow
                while si < n and src[si] in b"\r\n":
                    si += 1
                if si == n:
                    return n
                if src[si] != ord("="):
                    return si - 1
                si += 1
            while si < n and src[si] in b"\r\n":
                si += 1
            return si if si < n else None
    return None


def _bool(msg: dict[str, Any], name: str) -> bool:
    node = _field(msg, name)
    if node is None:
        return False
    if not isinstance(node, _Lit) or node.kind != "bool":
        raise _type_error(node, "bool")
    return node.raw == b"true"


def _int(msg: dict[str, Any], name: str, go_type: str = "int64") -> int:
    node = _field(msg, name)
    return 0 if node is None else _int_value(node, go_type)


_RANGES = {"int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1)}


def _int_value(node: _Node, go_type: str) -> int:
    if isinstance(node, _Lit) and node.kind == "string":
        # jsonpb drops the quotes and parses what was between them as JSON.
        node = _unmarshal_whole(node.raw[1:-1])
        if _is_null(node):
            return 0
    if not isinstance(node, _Lit) or node.kind != "number":
        raise _type_error(node, go_type)
    return _go_int(node, go_type, *_RANGES[go_type])


def _go_int(node: _Lit, go_type: str, lo: int, hi: int) -> int:
    """strconv.ParseInt/ParseUint of a JSON number: no fraction, no exponent, in range (and
    no minus sign at all for an unsigned type, not even on zero)."""
    raw = node.raw.decode()
    if (any(c in raw for c in ".eE") or len(raw) > 24 or not lo <= int(raw) <= hi
            or (lo == 0 and raw.startswith("-"))):
        raise _type_error(node, go_type, with_number=True)
    return int(raw)


@dataclass(frozen=True, slots=True)
class _Enum:
    """A protobuf enum as jsonpb sees it: its Go type (named in errors) and its names."""

    go_name: str
    names: tuple[str, ...]  # by number


def _go_quote(raw: bytes) -> str:
    """Go's ``%q`` of a byte string (enough for enum names, which are plain ASCII)."""
    out = []
    for ch in raw.decode("utf-8", "replace"):
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def _enum_value(node: _Node, enum: _Enum) -> int:
    """An enum's number; numbers etcd does not know are returned as they are."""
    if isinstance(node, _Lit) and node.kind == "string":
        name = node.raw[1:-1]  # not unescaped: valid names need no escapes
        try:
            return enum.names.index(name.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _bad(f"unknown value {_go_quote(name)} for enum {enum.go_name}") from None
    if not isinstance(node, _Lit) or node.kind != "number":
        raise _type_error(node, enum.go_name)
    return _go_int(node, enum.go_name, -(2**31), 2**31 - 1)


def _enum(msg: dict[str, Any], name: str, enum: _Enum, *, lenient: bool = False) -> str:
    """An enum field's name. A number etcd accepts but raftlib cannot represent is refused
    (etcd's behaviour with it ranges from ignoring it to crashing), except where ``lenient``:
    there etcd treats unknown numbers as the zero value."""
    node = _field(msg, name)
    n = 0 if node is None else _enum_value(node, enum)
    if 0 <= n < len(enum.names):
        return enum.names[n]
    if lenient:
        return enum.names[0]
    raise _bad(f"raftlib: unsupported value {n} for enum {enum.go_name}")


def _repeated(msg: dict[str, Any], name: str) -> list[_Node]:
    node = _field(msg, name)
    if node is None:
        return []
    if not isinstance(node, list):
        raise _type_error(node, "[]json.RawMessage")
    return node


# --------------------------------------------------------------------- encoding


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()

