"""Tables in and out: `import_file` (``gristmill import``) and the databases it writes."""

from gristmill.sql.database import Database, connect, redact
from gristmill.sql.importer import ImportReport, import_file
from gristmill.sql.types import SqlType

__all__ = ["Database", "ImportReport", "SqlType", "connect", "import_file", "redact"]
