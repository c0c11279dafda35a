"""Sources: where items come from."""

from gristmill.sources.base import Range, Source
from gristmill.sources.files import Files
from gristmill.sources.tables import Rows, Tables

__all__ = ["Files", "Range", "Rows", "Source", "Tables"]
