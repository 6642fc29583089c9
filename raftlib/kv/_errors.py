"""Errors of the MVCC store, carrying the messages a client of etcd 3.4 sees.

The strings are those of etcd's ``etcdserver/api/v3rpc/rpctypes/error.go`` (the gRPC errors
that the JSON gateway also returns), so a chapter can show the same text as a real cluster.
"""

from __future__ import annotations

__all__ = [
    "ErrBadLeaderTransferee",
    "ErrCompacted",
    "ErrDeadlineExceeded",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrKeyNotFound",
    "ErrLearnerNotReady",
    "ErrLeaseExists",
    "ErrLeaseNotFound",
    "ErrLeaseProvided",
    "ErrLeaseTTLTooLarge",
    "ErrMemberNotFound",
    "ErrMemberNotLearner",
    "ErrNoLeader",
    "ErrNoSpace",
    "ErrNotEnoughStartedMembers",
    "ErrStopped",
    "ErrTimeout",
    "ErrTimeoutLeaderTransfer",
    "ErrTooManyOps",
    "ErrUnhealthy",
    "ErrValueProvided",
    "Indeterminate",
    "KVError",
]


class KVError(Exception):
    """Base class of every error the store raises; ``message`` is etcd's exact text."""

    message: str = "etcdserver: unknown error"
    #: gRPC status code etcd attaches to the error (3 InvalidArgument, 11 OutOfRange, ...).
    code: int = 2

    def __init__(self) -> None:
        super().__init__(self.message)


class ErrEmptyKey(KVError):
    """A put, range or delete was given an empty key."""

    message = "etcdserver: key is not provided"
    code = 3


class ErrKeyNotFound(KVError):
    """A put with ``ignore_value`` or ``ignore_lease`` named a key that does not exist."""

    message = "etcdserver: key not found"
    code = 3


class ErrValueProvided(KVError):
    """A put with ``ignore_value`` also carried a value."""

    message = "etcdserver: value is provided"
    code = 3


class ErrLeaseProvided(KVError):
    """A put with ``ignore_lease`` also carried a lease."""

    message = "etcdserver: lease is provided"
    code = 3


class ErrTooManyOps(KVError):
    """A txn branch has more operations than the limit (128 in etcd 3.4)."""

    message = "etcdserver: too many operations in txn request"
    code = 3


class ErrDuplicateKey(KVError):
    """A txn branch puts one key twice, or puts a key that it also deletes."""

    message = "etcdserver: duplicate key given in txn request"
    code = 3


class ErrCompacted(KVError):
    """The revision asked for is below the compacted revision (or was already compacted)."""

    message = "etcdserver: mvcc: required revision has been compacted"
    code = 11


class ErrFutureRev(KVError):
    """The revision asked for is above the store's current revision."""

    message = "etcdserver: mvcc: required revision is a future revision"
    code = 11


class ErrNoSpace(KVError):
    """The write would exceed the backend quota, or the NOSPACE alarm is raised."""

    message = "etcdserver: mvcc: database space exceeded"
    code = 8


class ErrLeaseNotFound(KVError):
    """No lease with that id (a put naming it, a revoke, a grant of id 0)."""

    message = "etcdserver: requested lease not found"
    code = 5


class ErrLeaseExists(KVError):
    """A grant named the id of a lease that exists."""

    message = "etcdserver: lease already exists"
    code = 9


class ErrLeaseTTLTooLarge(KVError):
    """A grant asked for more than etcd's ``MaxLeaseTTL`` (9,000,000,000 s)."""

    message = "etcdserver: too large lease TTL"
    code = 11


# Errors of a replicated cluster as its clients see them (etcd's ``etcdserver/errors.go`` and
# ``rpctypes``). They are raised by clients of ``raftlib.Cluster``, never by the store itself.


class Indeterminate(KVError):
    """The request may or may not have been applied: the client cannot know.

    A checker must treat the operation as possibly taking effect at any later time.
    """

    message = "etcdserver: request timed out"
    code = 4


class ErrTimeout(Indeterminate):
    """The request was sent to a leader but no answer came before the client's deadline."""

    message = "etcdserver: request timed out"
    code = 14  # etcd's ErrGRPCTimeout is Unavailable: a client may retry it


class ErrDeadlineExceeded(Indeterminate):
    """The deadline passed before the request was proposed: etcd's answer to a write while its
    member knows no leader (its Raft takes no proposal then). Also what a client says when its
    own deadline passes first, so in general the client cannot know the write's fate."""

    message = "context deadline exceeded"
    code = 4


class ErrNoLeader(KVError):
    """No member could take the request: none knew a leader. Nothing was applied."""

    message = "etcdserver: no leader"
    code = 14


class ErrStopped(KVError):
    """The member asked is down."""

    message = "etcdserver: server stopped"
    code = 14


class ErrMemberNotFound(KVError):
    """A membership request named a member that is not in the cluster."""

    message = "etcdserver: member not found"
    code = 5


class ErrMemberNotLearner(KVError):
    """Only a learner can be promoted."""

    message = "etcdserver: can only promote a learner member"
    code = 9


class ErrLearnerNotReady(KVError):
    """A learner is promoted only once its log is in sync with the leader's."""

    message = "etcdserver: can only promote a learner member which is in sync with leader"
    code = 9


class ErrTimeoutLeaderTransfer(KVError):
    """Leadership did not move within the time allowed."""

    message = "etcdserver: request timed out, leader transfer took too long"
    code = 14


class ErrBadLeaderTransferee(KVError):
    """A leadership transfer named a member that is not a voter of the cluster."""

    message = "etcdserver: bad leader transferee"
    code = 9


class ErrUnhealthy(KVError):
    """etcd's strict reconfiguration check: a member is added only once every voter has been
    connected to the member taking the request for 5 s (``--strict-reconfig-check``)."""

    message = "etcdserver: unhealthy cluster"
    code = 14


class ErrNotEnoughStartedMembers(KVError):
    """A voter may be added only while a quorum of the grown cluster has started."""

    message = "etcdserver: re-configuration failed due to not enough started members"
    code = 9


class ErrNotLeader(KVError):
    """A request only the leader can serve reached a follower (e.g. a leadership transfer)."""

    message = "etcdserver: not leader"
    code = 9


class ErrRequestTooLarge(KVError):
    """The request is over the size limit (etcd's ``--max-request-bytes``)."""

    message = "etcdserver: request is too large"
    code = 3
