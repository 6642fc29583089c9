"""Fixtures: a real etcd per test (see tests/etcd_process.py)."""

from tests.etcd_process import etcd, etcd_factory

__all__ = ["etcd", "etcd_factory"]
