"""The client's plumbing without a server: what a refused connection raises, and the exact
watch bodies the clients send."""

from __future__ import annotations

import json
import socket

import pytest

from raftlib.gateway import EtcdGateway, Unreachable, dial, watch_create


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_refused_connection_is_unreachable_with_gos_dial_text() -> None:
    port = _closed_port()
    with pytest.raises(Unreachable, match=f"^dial tcp 127.0.0.1:{port}: connect: connection "
                                          "refused$") as e:
        dial(f"http://127.0.0.1:{port}", 1.0)
    assert isinstance(e.value.reason, ConnectionRefusedError)
    with pytest.raises(Unreachable) as e:  # an OSError: the request never reached a server
        EtcdGateway(f"http://127.0.0.1:{port}", 1.0).call("kv/range", {"key": "YQ=="})
    assert isinstance(e.value, OSError) and isinstance(e.value.reason, ConnectionRefusedError)


def test_watch_bodies_are_the_ones_sent_before() -> None:
    assert json.dumps(watch_create(b"a", b"b", start_revision=3, prev_kv=True)) == (
        '{"key": "YQ==", "range_end": "Yg==", "start_revision": "3", "prev_kv": true}')
    assert json.dumps(watch_create(b"a", filters=frozenset({"NOPUT"}))) == (
        '{"key": "YQ==", "range_end": "", "start_revision": "0", "prev_kv": false, '
        '"filters": ["NOPUT"]}')
