"""Errors of the MVCC store, carrying the messages a client of etcd 3.4 sees.

The strings are those of etcd's ``etcdserver/api/v3rpc/rpctypes/error.go`` (the gRPC errors
that the JSON gateway also returns), so a chapter can show the same text as a real cluster.
"""

from __future__ import annotations

__all__ = [
    "ErrCompacted",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrKeyNotFound",
    "ErrLeaseProvided",
    "ErrNoSpace",
    "ErrTooManyOps",
    "ErrValueProvided",
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
