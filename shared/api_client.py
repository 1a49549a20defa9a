"""A small client for the running API, used by the CLI (`task`, `status`).

httpx is imported on first use: every service starts through the CLI, which imports this
module, and none of them needs httpx (~3 MB resident).
"""

from __future__ import annotations

from typing import Any

from shared.config import Config
from shared.token import read_token


class ApiUnavailable(Exception):
    """The API is not running, refuses us, or answered with an error; the message says which."""


class ApiClient:
    def __init__(self, config: Config, timeout: float = 30.0) -> None:
        host = config.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.base_url = f"http://{host}:{config.server.port}"
        try:
            token = read_token(config)
        except OSError:
            raise ApiUnavailable(
                f"no API token in {config.home}: start the API first (`localgpt run api` "
                "or `honcho start`)"
            ) from None
        import httpx

        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict) -> Any:
        return self._request("POST", path, json=body)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ApiUnavailable(
                f"the API is not running at {self.base_url}: start it with "
                "`localgpt run api` (or `honcho start`)"
            ) from None
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"the API at {self.base_url} did not answer: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ApiUnavailable(f"API error {response.status_code}: {message}")
        return response.json()
