"""Tables in and out: `import_file` (``gristmill import``) and the databases it writes."""

from gristmill.sql.database import Database, connect
from gristmill.sql.importer import AlreadyImported, ImportReport, import_file
from gristmill.sql.types import SqlType
from gristmill.storage.urls import redact

__all__ = ["AlreadyImported", "Database", "ImportReport", "SqlType", "connect", "import_file", "redact"]
