"""`moneypath dashboards push`: create or update the generated dashboards in a running Grafana.

Five calls of Grafana's HTTP API (health, folders, dashboards/db) on httpx: a Grafana client
library would bring its own HTTP stack into a service's environment (grafana-client pulls
niquests and urllib3-future, which shadows urllib3).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from moneypath.catalog import Catalog
from moneypath.generate.dashboards import DEFAULT_FOLDER, dashboards, folder_uid


class PushError(Exception):
    """A push failed; the message is one line for the person at the terminal."""


class GrafanaError(Exception):
    """Grafana answered with an error status; `response` is its JSON body (or text)."""

    def __init__(self, status_code: int, response):
        self.status_code, self.response = status_code, response
        message = response.get("message") if isinstance(response, dict) else None
        super().__init__(str(message or response or f"HTTP {status_code}"))


# httpx's names for what a person reads as one failure.
_TRANSPORT_NAMES = {"ConnectError": "ConnectionError", "ConnectTimeout": "ConnectTimeout",
                    "ReadTimeout": "ReadTimeout", "WriteTimeout": "WriteTimeout", "PoolTimeout": "PoolTimeout"}


class GrafanaClient:
    """Grafana's HTTP API under `<url>/api`: a bearer token, or basic auth from the URL's user:password;
    `?verify=false` in the URL skips TLS verification (a self-signed staging Grafana)."""

    def __init__(self, url: str, token: str | None, timeout_s: float):
        import httpx

        parts = urlsplit(url)
        verify = parse_qs(parts.query).get("verify", ["true"])[0].lower() not in ("false", "0", "no", "off")
        # A token wins over user:password in the URL (httpx would turn those into basic auth).
        netloc = parts.netloc.rsplit("@", 1)[-1] if token else parts.netloc
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/api", "", ""))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base, headers=headers, timeout=timeout_s, verify=verify)

    def request(self, method: str, path: str, json=None):
        """The decoded JSON answer (None for 204, the text of a text/* answer); GrafanaError for a 4xx/5xx;
        ValueError when the body is not JSON."""
        response = self._http.request(method, path.lstrip("/"), json=json)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise GrafanaError(response.status_code, body)
        if response.status_code == 204:
            return None
        if response.headers.get("content-type", "").startswith("text/"):
            return response.text  # not Grafana's API (a web server's page, say): the caller says so
        return response.json()

    def close(self) -> None:
        self._http.close()


def push(c: Catalog, url: str, token: str | None, folder: str = DEFAULT_FOLDER, progress=print,
         timeout_s: float = 10.0) -> list[str]:
    """Create or update the folder and every dashboard (overwrite, idempotent); returns the dashboard URLs."""
    import httpx

    api = GrafanaClient(url, token or None, timeout_s)
    where = url.rstrip("/")

    def call(what: str, method: str, path: str, json=None):
        try:
            return api.request(method, path, json)
        except GrafanaError as exc:
            message = str(exc)
            if exc.status_code == 401:
                raise PushError(f"Grafana at {where} refused the credentials (401) while {what}: "
                                "check --token / GRAFANA_TOKEN") from exc
            if exc.status_code == 403:
                raise PushError(f"Grafana at {where} denied {what} (403 {message}): the token needs the Editor "
                                "role or dashboards:write on the folder") from exc
            if exc.status_code == 412:
                status = exc.response.get("status", "") if isinstance(exc.response, dict) else ""
                raise PushError(f"Grafana at {where} rejected {what} (412 {status + ': ' if status else ''}{message}): "
                                "it changed in Grafana during the push, or another dashboard has its title or uid; "
                                "check it there, then push again") from exc
            if exc.status_code >= 500:
                raise PushError(f"Grafana at {where} failed while {what}: {exc.status_code} {message}") from exc
            raise PushError(f"Grafana at {where} rejected {what} ({exc.status_code} {message})") from exc
        except ValueError as exc:  # a body that is not JSON
            raise PushError(f"{where} does not answer like Grafana while {what}: {exc}") from exc
        except (httpx.HTTPError, OSError) as exc:
            name = _TRANSPORT_NAMES.get(type(exc).__name__, type(exc).__name__)
            raise PushError(f"cannot reach Grafana at {where} while {what}: {name}") from exc

    try:
        health = call("checking health", "GET", "/health")  # GET /api/health, no credentials needed
        if not isinstance(health, dict) or "database" not in health:
            raise PushError(f"{where} does not answer like Grafana: GET /api/health gave {str(health)[:60]!r}")
        progress(f"Grafana {health.get('version', '?')} at {where}, database {health['database']}")
        fuid = folder_uid(folder)
        existing = {f.get("uid"): f for f in call("listing folders", "GET", "/folders") or []}
        if fuid not in existing:
            call(f"creating folder {folder!r}", "POST", "/folders", {"title": folder, "uid": fuid})
            progress(f"created folder {folder!r} (uid {fuid})")
        elif existing[fuid].get("title") != folder:
            call(f"renaming folder {fuid}", "PUT", f"/folders/{fuid}", {"title": folder, "overwrite": True})
            progress(f"renamed folder {fuid} to {folder!r}")
        else:
            progress(f"folder {folder!r} exists (uid {fuid})")
        urls = []
        for uid, doc in sorted(dashboards(c, _catalog_name(c)).items()):
            body = {"dashboard": {**doc, "id": None}, "folderUid": fuid, "overwrite": True,
                    "message": f"moneypath push from {_catalog_name(c)}"}
            result = call(f"saving dashboard {uid}", "POST", "/dashboards/db", body) or {}
            link = where + result.get("url", f"/d/{uid}")
            urls.append(link)
            progress(f"saved {doc['title']!r} version {result.get('version', '?')}: {link}")
        return urls
    finally:
        api.close()


def _catalog_name(c: Catalog) -> str:
    from pathlib import Path

    return Path(c.path).name
