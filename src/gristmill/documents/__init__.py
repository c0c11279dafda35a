"""Documents: files of many formats into typed elements (``Partition``), then chunks (``Chunk``)."""

from gristmill.documents.chunk import Chunk
from gristmill.documents.partition import Partition

__all__ = ["Chunk", "Partition"]
