"""gristmill's storage settings as each fsspec backend's own options.

Credentials are left to each backend, which reads its service's standard variables and
files (``AWS_*`` and ``~/.aws``, ``AZURE_STORAGE_*``, ``GOOGLE_APPLICATION_CREDENTIALS``);
only what gristmill adds is translated here.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from gristmill._exceptions import ConfigError
from gristmill.storage.urls import protocol, redact

S3 = frozenset({"s3", "s3a"})
AZURE = frozenset({"az", "abfs", "abfss"})
GCS = frozenset({"gs", "gcs"})
POOL_CONNECTIONS = 32  # connections per S3 client: above any sensible downloads per worker
SAS_URL_ENV = "AZURE_STORAGE_SAS_URL"
# Options that already say how to authenticate to Azure: then AZURE_STORAGE_SAS_URL is not used.
AZURE_CREDENTIALS = ("connection_string", "account_key", "sas_token", "credential", "anon")
EXTRAS = {**dict.fromkeys(S3, "s3"), **dict.fromkeys(AZURE, "azure"), **dict.fromkeys(GCS, "gcs")}


class Target(NamedTuple):
    """A URL as fsspec should open it, with the options to open it with."""

    url: str
    options: dict[str, Any]


def resolve(
    url: str,
    options: Mapping[str, Any],
    *,
    anonymous: bool = False,
    endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """``url`` and the backend options that carry out ``anonymous`` and ``endpoint_url``.

    An Azure container SAS URL (``https://ACCOUNT.blob.core.windows.net/CONTAINER/prefix?sv=…``)
    becomes ``az://CONTAINER/prefix`` with the SAS as credential; so does an ``az://`` URL
    when ``AZURE_STORAGE_SAS_URL`` is set and no other Azure credential is given.
    """
    env = os.environ if environ is None else environ
    opts = dict(options)
    if protocol(url) in ("http", "https") and "sig=" in urlsplit(url).query:
        url, opts["connection_string"] = _from_sas_url(url, keep_path=True)
    proto = protocol(url)
    if proto in S3:
        # One GET per object: s3fs would first ask each object's size (a HEAD) to split big
        # ones into ranges; gristmill fetches several items at once instead.
        opts.setdefault("max_concurrency", 1)
        # botocore keeps 10 connections per client: fewer than a worker's downloads in flight.
        opts.setdefault("config_kwargs", {}).setdefault("max_pool_connections", POOL_CONNECTIONS)
        if anonymous:
            opts.setdefault("anon", True)
        if endpoint_url:
            opts.setdefault("endpoint_url", endpoint_url)
    elif proto in AZURE:
        if anonymous:
            opts.setdefault("anon", True)
            if not any(key in opts for key in AZURE_CREDENTIALS if key != "anon"):
                # adlfs would still take the key of the environment's connection string or
                # account: anonymous means the account alone, no credential at all
                public = _account_only(env)
                if public:
                    opts["connection_string"] = public
        if endpoint_url:
            raise ConfigError(
                "--endpoint-url applies to S3-compatible stores; for Azure give a connection "
                "string (AZURE_STORAGE_CONNECTION_STRING) or a SAS URL (AZURE_STORAGE_SAS_URL)"
            )
        sas_url = env.get(SAS_URL_ENV)
        if sas_url and not any(key in opts for key in AZURE_CREDENTIALS):
            granted, opts["connection_string"] = _from_sas_url(sas_url, keep_path=False)
            if granted != _container_url(url):
                raise ConfigError(
                    f"{SAS_URL_ENV} grants access to {granted}, not to {redact(url)!r}; "
                    "give a SAS URL for that container"
                )
    elif proto in GCS:
        if anonymous:
            opts.setdefault("token", "anon")
        if endpoint_url:
            opts.setdefault("endpoint_url", endpoint_url)
        _check_google_credentials(opts, env)
    elif anonymous or endpoint_url:
        raise ConfigError(
            f"--anonymous and --endpoint-url apply to s3://, az:// and gs:// URLs, not to {redact(url)!r}"
        )
    return Target(url, opts)


def _from_sas_url(sas_url: str, *, keep_path: bool) -> tuple[str, str]:
    """A container SAS URL as (``az://container[/prefix]``, connection string)."""
    parts = urlsplit(sas_url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or not parts.query or not parts.hostname:
        raise ConfigError(
            f"{SAS_URL_ENV} must be a container SAS URL, like "
            "https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...&sig=...; "
            f"found {redact(sas_url)!r}"
        )
    # Emulators (Azurite) put the account in the path: http://127.0.0.1:10000/ACCOUNT/CONTAINER
    path_style = parts.hostname == "localhost" or _is_ip(parts.hostname)
    account = segments[:1] if path_style else []
    rest = segments[len(account) :]
    if not rest:
        raise ConfigError(f"the SAS URL {redact(sas_url)!r} names no container")
    endpoint = "/".join([f"{parts.scheme}://{parts.netloc}", *account])
    kept = rest if keep_path else rest[:1]
    return "az://" + "/".join(kept), f"BlobEndpoint={endpoint};SharedAccessSignature={parts.query}"


def _account_only(env: Mapping[str, str]) -> str | None:
    """A connection string naming the environment's Azure account (or endpoint) and no
    credential; None when the environment names none."""
    given = env.get("AZURE_STORAGE_CONNECTION_STRING", "")
    fields = [field for field in given.split(";") if field.strip()]
    kept = [
        f for f in fields if f.split("=", 1)[0].strip().lower() not in ("accountkey", "sharedaccesssignature")
    ]
    if any(f.split("=", 1)[0].strip().lower() in ("accountname", "blobendpoint") for f in kept):
        return ";".join(kept)
    account = env.get("AZURE_STORAGE_ACCOUNT_NAME")
    return (
        f"DefaultEndpointsProtocol=https;AccountName={account};EndpointSuffix=core.windows.net"
        if account
        else None
    )


def _container_url(url: str) -> str:
    """``az://container`` for ``abfs://container/a/b``."""
    return "az://" + url.split("://", 1)[1].lstrip("/").split("/", 1)[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _check_google_credentials(opts: Mapping[str, Any], env: Mapping[str, str]) -> None:
    # gcsfs would fall back to other methods (and the network) when this file is missing.
    path = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if "token" not in opts and path and not os.path.isfile(path):
        raise ConfigError(
            f"GOOGLE_APPLICATION_CREDENTIALS names {path!r}, which does not exist; "
            "point it at a service account key file, or pass --anonymous for a public bucket"
        )
