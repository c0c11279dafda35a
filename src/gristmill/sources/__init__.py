"""Sources: where items come from."""

from gristmill.sources.base import Range, Source
from gristmill.sources.files import Files

__all__ = ["Files", "Range", "Source"]
