"""One small REST seam over the two official clients, so the store is written once.

The REST calls the store makes (`_bulk`, `_search`, `_count`, index create/delete, `_refresh`,
`_index_template`, `_cat/indices`) are the same on OpenSearch 2.x and Elasticsearch 9.x; what
differs is the client: `opensearch-py` and `elasticsearch` (9.x, which adds the
`compatible-with=9` media types). Each adapter turns its client's errors into the store's:
`StoreUnavailableError` for what a retry may cure (no connection, timeouts, 429, 502-504) and
`ServerError` (status, type, reason) for an answer that is final.

Clients are created without their own retries: bulk retries are the store's (`bulk`), so an
outage is seen, counted and bounded in one place.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

from datasoc.store.errors import StorageError, StoreUnavailableError

#: HTTP statuses a later retry may cure.
RETRYABLE_STATUS: Final = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Connection:
    """Where a search cluster is and how to authenticate; secrets stay `SecretStr` until the client."""

    urls: tuple[str, ...] = ("http://127.0.0.1:9200",)
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout_s: float = 30.0

    @property
    def location(self) -> str:
        """The first URL, for messages (never credentials: URLs with user info are refused)."""
        return self.urls[0]

    def __post_init__(self) -> None:
        if not self.urls:
            raise StorageError("search store", "configure", "no URL given")
        for url in self.urls:
            if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
                raise StorageError(
                    "search store",
                    "configure",
                    "credentials in the URL are refused",
                    hint="set store.username and store.password (or store.api_key) instead",
                )


class ServerError(StorageError):
    """The server answered with a final error: `status`, the error `kind` and its reason."""

    def __init__(self, location: str, operation: str, status: int, kind: str, reason: str) -> None:
        self.status = status
        self.kind = kind
        self.reason = reason
        super().__init__(location, operation, f"HTTP {status} {kind}: {reason}")


def _error_parts(body: object) -> tuple[str, str]:
    """`(type, reason)` of an error body, whatever shape the server gave it."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return "error", str(body)[:500]
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            cause = error.get("root_cause")
            if isinstance(cause, list) and cause and isinstance(cause[0], Mapping):
                error = cause[0]
            return str(error.get("type", "error")), str(error.get("reason", ""))[:500]
        return "error", str(error)[:500]
    return "error", str(body)[:500]


class SearchClient(ABC):
    """`request(method, path, body)` against the cluster, with the store's errors."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def location(self) -> str:
        return self.connection.location

    @abstractmethod
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        ndjson: bool = False,
    ) -> Any:
        """The parsed JSON answer; `ndjson=True` sends `body` (a str) as newline-delimited JSON."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection pool."""

    def _fail(self, operation: str, status: int | None, body: object, exc: Exception) -> StorageError:
        if status is None or status in RETRYABLE_STATUS:
            detail = f"HTTP {status}" if status else type(exc).__name__
            return StoreUnavailableError(
                self.location, operation, f"{detail}: {str(exc)[:300]}", hint="the server is down or busy"
            )
        kind, reason = _error_parts(body)
        return ServerError(self.location, operation, status, kind, reason)


class OpenSearchClient(SearchClient):
    """Over `opensearch-py`."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        from opensearchpy import OpenSearch

        auth: Any = None
        if connection.username is not None:
            auth = (
                connection.username,
                connection.password.get_secret_value() if connection.password else "",
            )
        headers = {}
        if connection.api_key is not None:
            headers["Authorization"] = f"ApiKey {connection.api_key.get_secret_value()}"
        self._client = OpenSearch(
            hosts=list(connection.urls),
            http_auth=auth,
            headers=headers or None,
            verify_certs=connection.verify_tls,
            ssl_show_warn=connection.verify_tls,
            ca_certs=str(connection.ca_file) if connection.ca_file else None,
            timeout=connection.timeout_s,
            max_retries=0,
            retry_on_timeout=False,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        ndjson: bool = False,
    ) -> Any:
        from opensearchpy.exceptions import ConnectionError as OSConnectionError
        from opensearchpy.exceptions import TransportError

        headers = {"content-type": "application/x-ndjson"} if ndjson else None
        try:
            return self._client.transport.perform_request(
                method, path, params=dict(params or {}), body=body, headers=headers
            )
        except OSConnectionError as exc:  # includes timeouts and TLS failures
            raise self._fail(f"{method} {path}", None, None, exc) from None
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else None
            raise self._fail(f"{method} {path}", status, exc.info, exc) from None

    def close(self) -> None:
        self._client.close()


class ElasticsearchClient(SearchClient):
    """Over `elasticsearch` 9.x."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        from elasticsearch import Elasticsearch

        tls: dict[str, Any] = {"ca_certs": str(connection.ca_file)} if connection.ca_file else {}
        self._client = Elasticsearch(
            list(connection.urls),
            basic_auth=(
                (connection.username, connection.password.get_secret_value() if connection.password else "")
                if connection.username is not None
                else None
            ),
            api_key=connection.api_key.get_secret_value() if connection.api_key else None,
            verify_certs=connection.verify_tls,
            ssl_show_warn=connection.verify_tls,
            request_timeout=connection.timeout_s,
            max_retries=0,
            retry_on_timeout=False,
            **tls,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        ndjson: bool = False,
    ) -> Any:
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError
        from elasticsearch import ConnectionError as ESConnectionError

        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/x-ndjson" if ndjson else "application/json"
        try:
            answer = self._client.perform_request(
                method, path, params=dict(params or {}), headers=headers, body=body
            )
        except (ESConnectionError, ConnectionTimeout) as exc:
            raise self._fail(f"{method} {path}", None, None, exc) from None
        except ApiError as exc:
            raise self._fail(f"{method} {path}", exc.meta.status, exc.body, exc) from None
        return answer.body

    def close(self) -> None:
        self._client.close()
