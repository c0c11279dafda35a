"""The storage settings a file source and a file sink share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from gristmill._exceptions import ConfigError
from gristmill.storage.options import EXTRAS, resolve
from gristmill.storage.urls import MASK, protocol, redact

if TYPE_CHECKING:
    from typing_extensions import Self

# Storage option names whose values are secrets: masked in every repr.
SECRET_OPTIONS = ("key", "secret", "token", "password", "connection_string", "sas", "credential")


class Storage(BaseModel):
    """How to reach a store: mixed into `Files` and the file sinks.

    Args:
        storage_options: passed to the fsspec backend as they are (``{"profile": "dev"}``).
        anonymous: no credentials, for public buckets and containers (``--anonymous``).
        endpoint_url: an S3-compatible store's address (MinIO, Ceph, moto), or a GCS one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    storage_options: dict[str, Any] = {}
    anonymous: bool = False
    endpoint_url: str | None = None

    def open_url(self, url: str) -> tuple[Any, str]:
        """The fsspec filesystem holding ``url``, and ``url``'s path in it."""
        from fsspec.core import url_to_fs

        target = self.resolve(url)
        try:
            fs, path = url_to_fs(target.url, **target.options)
        except ImportError as exc:
            extra = EXTRAS.get(protocol(target.url))
            # fsspec's message names the package: 'SFTPFileSystem requires "paramiko" ...'
            hint = f": pip install 'gristmill[{extra}]'" if extra else f" ({exc})"
            raise ConfigError(f"{protocol(url)}:// URLs need a package that is not installed{hint}") from exc
        except Exception as exc:
            from gristmill.storage.errors import explain

            raise ConfigError(explain(exc, target.url, "open")) from exc
        return fs, str(path).rstrip("/")

    def resolve(self, url: str) -> Any:
        """``url`` as fsspec opens it (an Azure SAS URL becomes ``az://``), with its options."""
        return resolve(url, self.storage_options, anonymous=self.anonymous, endpoint_url=self.endpoint_url)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy that opens its store afresh: a new URL or credential never reuses the old
        connection."""
        copy = super().model_copy(update=update, deep=deep)
        for name, private in self.__private_attributes__.items():
            setattr(copy, name, private.get_default(call_default_factory=True))
        return copy

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "storage_options" and isinstance(value, dict):
                yield name, {k: MASK if _is_secret(k) else v for k, v in value.items()}
            elif isinstance(value, str):
                yield name, redact(value)
            else:
                yield name, value


def _is_secret(option: str) -> bool:
    return any(word in option.lower() for word in SECRET_OPTIONS)
