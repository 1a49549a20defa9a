"""A small client for the running API, used by the CLI (`task`, `status`).

Plain `http.client` from the standard library: the API is on loopback without TLS, and httpx's
import (~90 ms) was a quarter of `localgpt status`'s start-up budget.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode

from shared.config import Config
from shared.token import read_token


class ApiUnavailable(Exception):
    """The API is not running, refuses us, or answered with an error; the message says which."""


def path_part(value: str) -> str:
    """An id or name as one path segment (`/` and `..` stay inside it)."""
    return quote(value, safe="")


class ApiClient:
    def __init__(self, config: Config, timeout: float = 30.0) -> None:
        host = config.server.host
        self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.port = config.server.port
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{shown}:{self.port}"
        self.timeout = timeout
        try:
            token = read_token(config)
        except OSError:
            raise ApiUnavailable(
                f"no API token in {config.home}: start the API first (`localgpt run api` "
                "or `honcho start`)"
            ) from None
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str, **params: Any) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self._request("GET", f"{path}?{query}" if query else path)

    def post(self, path: str, body: dict) -> Any:
        return self._request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except OSError:
                raise ApiUnavailable(
                    f"the API is not running at {self.base_url}: start it with "
                    "`localgpt run api` (or `honcho start`)"
                ) from None
            headers = dict(self._headers)
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                raise ApiUnavailable(
                    f"the API at {self.base_url} did not answer: {exc.__class__.__name__}: {exc}"
                ) from None
        finally:
            conn.close()
        if status >= 400:
            try:
                message = json.loads(data)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = data[:200].decode(errors="replace")
            raise ApiUnavailable(f"API error {status}: {message}")
        try:
            return json.loads(data)
        except ValueError:
            raise ApiUnavailable(f"the API at {self.base_url} sent no JSON") from None
