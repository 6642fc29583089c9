"""Requests as plain JSON, so that a store's run can be replayed (live mode in the browser).

A dataclass request is ``[name, {field: value}]``, bytes are ``{"b": latin-1 text}`` (or
``{"x": [byte, count]}`` for one byte repeated, at least ``_REPEATED`` times: the quota
chapter's kilobyte values), an enum is ``{"e": [name, value]}`` and a tuple is a list;
:func:`decode` reverses it exactly.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from raftlib.kv._types import (
    AlarmAction,
    AlarmRequest,
    AlarmType,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DefragmentRequest,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    Request,
    SortOrder,
    SortTarget,
    TxnRequest,
)

__all__ = ["decode", "decode_request", "encode"]

_REPEATED = 32

_TYPES: dict[str, Any] = {cls.__name__: cls for cls in (
    AlarmAction, AlarmRequest, AlarmType, CompactionRequest, Compare, CompareResult,
    CompareTarget, DefragmentRequest, DeleteRangeRequest, PutRequest, RangeRequest, SortOrder,
    SortTarget, TxnRequest)}


def encode(value: Any) -> Any:
    """``value`` (a request, or anything inside one) as plain JSON."""
    if isinstance(value, bytes):
        if len(value) >= _REPEATED and value == value[:1] * len(value):
            return {"x": [value[0], len(value)]}
        return {"b": value.decode("latin-1")}
    if isinstance(value, enum.Enum):
        return {"e": [type(value).__name__, value.value]}
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__,
                {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    return value


def decode(value: Any) -> Any:
    """The request (or part of one) that :func:`encode` turned into ``value``."""
    if isinstance(value, dict):
        if "b" in value:
            return str(value["b"]).encode("latin-1")
        if "x" in value:
            byte, count = value["x"]
            return bytes([byte]) * count
        name, raw = value["e"]
        return _TYPES[name](raw)
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict):
            return _TYPES[value[0]](**{k: decode(v) for k, v in value[1].items()})
        return tuple(decode(v) for v in value)
    return value


def decode_request(value: Any) -> Request:
    """A request from :func:`encode`."""
    req: Request = decode(value)
    return req
