"""etcd 3.4's v3 JSON gateway (``POST /v3/kv/put`` and friends), both sides, in one place.

- :mod:`raftlib.gateway._gojson`: Go's JSON as the gateway decodes it (``encoding/json``'s
  scanner and ``jsonpb``'s field rules, with Go's error texts) and base64 for bytes.
- :mod:`raftlib.gateway._server`: the server side as pure functions: request bodies parsed
  into ``raftlib.kv`` requests (``parse_*``), responses rendered as etcd sends them
  (``render_*``), and etcd's HTTP statuses, gRPC codes and error texts. raftlib's runtime
  serves these.
- :mod:`raftlib.gateway._client`: the one client (:class:`EtcdGateway`, and the connection,
  watch stream and JSON conversions that ``raftlib.backends`` and the ``raftlib`` command
  line build on).

The names below are the package's surface; the modules have no ``__all__`` of their own.

What a member admits before proposing (the quota, ``--max-request-bytes``) is not the
gateway's: it is ``raftlib.kv.admit_write``, shared by every engine. This package imports
``raftlib.kv``, never the other way round.
"""

from raftlib.gateway._client import (
    EtcdError,
    EtcdGateway,
    Unreachable,
    WatchStream,
    dial,
    header_revision,
    op_json,
    op_response,
    send,
    watch_create,
    watch_response,
)
from raftlib.gateway._gojson import GatewayError
from raftlib.gateway._lease import (
    LEASE_PATHS,
    LeaseQuery,
    parse_keepalive_stream,
    parse_lease,
    render_keepalive,
    render_lease_leases,
    render_lease_ttl,
)
from raftlib.gateway._server import (
    CLUSTER_VERSION,
    ETCD_VERSION,
    Header,
    MemberJSON,
    WatchCancel,
    WatchCreate,
    WatchProgress,
    WatchRequest,
    alarm_text,
    grpc_http_status,
    parse_alarm,
    parse_kv,
    parse_member_add,
    parse_member_id,
    parse_transfer,
    parse_watch_stream,
    render,
    render_alarm,
    render_error,
    render_header,
    render_health,
    render_member_add,
    render_member_list,
    render_member_promote,
    render_member_remove,
    render_status,
    render_transfer,
    render_version,
    render_watch_created,
    render_watch_events,
    render_watch_progress,
    render_watch_refused,
)

__all__ = [
    "CLUSTER_VERSION",
    "ETCD_VERSION",
    "LEASE_PATHS",
    "EtcdError",
    "EtcdGateway",
    "GatewayError",
    "Header",
    "LeaseQuery",
    "MemberJSON",
    "Unreachable",
    "WatchCancel",
    "WatchCreate",
    "WatchProgress",
    "WatchRequest",
    "WatchStream",
    "alarm_text",
    "dial",
    "grpc_http_status",
    "header_revision",
    "op_json",
    "op_response",
    "parse_alarm",
    "parse_keepalive_stream",
    "parse_kv",
    "parse_lease",
    "parse_member_add",
    "parse_member_id",
    "parse_transfer",
    "parse_watch_stream",
    "render",
    "render_alarm",
    "render_error",
    "render_header",
    "render_health",
    "render_keepalive",
    "render_lease_leases",
    "render_lease_ttl",
    "render_member_add",
    "render_member_list",
    "render_member_promote",
    "render_member_remove",
    "render_status",
    "render_transfer",
    "render_version",
    "render_watch_created",
    "render_watch_events",
    "render_watch_progress",
    "render_watch_refused",
    "send",
    "watch_create",
    "watch_response",
]
