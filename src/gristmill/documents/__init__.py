"""Documents: files of many formats into typed elements (``Partition``), then chunks (``Chunk``)."""

from typing import TYPE_CHECKING

from gristmill import _lazy

if TYPE_CHECKING:
    from gristmill.documents.chunk import Chunk
    from gristmill.documents.partition import Partition

#: What a worker imports to read every format (`Partition.imports`): named here, where it is
#: cheap to read, so ``gristmill extract`` can start its workers' fork server on them first.
IMPORTS = (
    "gristmill.documents.partition",
    "charset_normalizer",
    "defusedxml.ElementTree",
    "docx",
    "email.parser",
    "pptx",
    "pypdfium2",
    "python_calamine",
)

__getattr__ = _lazy.exports(
    __name__, {"gristmill.documents.chunk": ("Chunk",), "gristmill.documents.partition": ("Partition",)}
)

__all__ = ["IMPORTS", "Chunk", "Partition"]
