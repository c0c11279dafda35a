"""Object storage: URLs, credentials and errors shared by the file sources and sinks.

Every store is reached through fsspec; this package only turns gristmill's options
(``anonymous``, ``endpoint_url``, an Azure SAS URL) into each backend's storage options,
keeps secrets out of messages, and turns a backend's errors into gristmill's.
"""

from gristmill.storage.folder import Folder
from gristmill.storage.location import Storage
from gristmill.storage.urls import is_remote, redact

__all__ = ["Folder", "Storage", "is_remote", "redact"]
