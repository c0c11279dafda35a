"""Helpers for testing pipelines: a loopback stand-in for OpenSearch (not OpenSearch)."""

from gristmill.testing.opensearch import StandInOpenSearch

__all__ = ["StandInOpenSearch"]
