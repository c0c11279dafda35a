"""Object storage: URLs, credentials and errors shared by the file sources and sinks.

Every store is reached through fsspec; this package only turns gristmill's options
(``anonymous``, ``endpoint_url``, an Azure SAS URL) into each backend's storage options,
keeps secrets out of messages, and turns a backend's errors into gristmill's.
"""

import logging

from gristmill.storage.folder import Folder
from gristmill.storage.location import Storage
from gristmill.storage.urls import is_remote, redact

#: The stores' libraries log each request they give up on, traceback and all, then raise;
#: gristmill reports what they raise. Without a handler of their own, Python would print
#: those logs on stderr (in every worker too); with one, they still reach an application's
#: own logging, and ``gristmill -v`` shows them.
STORE_LOGGERS = ("gcsfs", "s3fs", "adlfs", "azure", "fsspec", "aiobotocore", "botocore")
for _name in STORE_LOGGERS:
    logging.getLogger(_name).addHandler(logging.NullHandler())

__all__ = ["Folder", "Storage", "is_remote", "redact"]
