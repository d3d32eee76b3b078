"""`moneypath dashboards push`: create or update the generated dashboards in a running Grafana (grafana-client)."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.generate.dashboards import DEFAULT_FOLDER, dashboards, folder_uid


class PushError(Exception):
    """A push failed; the message is one line for the person at the terminal."""


def push(c: Catalog, url: str, token: str | None, folder: str = DEFAULT_FOLDER, progress=print,
         timeout_s: float = 10.0) -> list[str]:
    """Create or update the folder and every dashboard (overwrite, idempotent); returns the dashboard URLs."""
    import niquests
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

    api = GrafanaApi.from_url(url, credential=token or None, timeout=timeout_s)
    where = url.rstrip("/")

    def call(what: str, fn, *args):
        try:
            return fn(*args)
        except GrafanaUnauthorizedError as exc:
            raise PushError(f"Grafana at {where} refused the credentials (401) while {what}: "
                            "check --token / GRAFANA_TOKEN") from exc
        except GrafanaClientError as exc:
            message = _message(exc)
            if exc.status_code == 403:
                raise PushError(f"Grafana at {where} denied {what} (403 {message}): the token needs the Editor "
                                "role or dashboards:write on the folder") from exc
            if exc.status_code == 412:
                status = exc.response.get("status", "") if isinstance(exc.response, dict) else ""
                raise PushError(f"Grafana at {where} rejected {what} (412 {status + ': ' if status else ''}{message}): "
                                "it changed in Grafana during the push, or another dashboard has its title or uid; "
                                "check it there, then push again") from exc
            raise PushError(f"Grafana at {where} rejected {what} ({exc.status_code} {message})") from exc
        except GrafanaException as exc:
            raise PushError(f"Grafana at {where} failed while {what}: {_message(exc)}") from exc
        except ValueError as exc:  # a body that is not JSON
            raise PushError(f"{where} does not answer like Grafana while {what}: {exc}") from exc
        except (niquests.exceptions.RequestException, OSError) as exc:
            raise PushError(f"cannot reach Grafana at {where} while {what}: {type(exc).__name__}") from exc

    health = call("checking health", api.client.GET, "/health")  # GET /api/health, no credentials needed
    if not isinstance(health, dict) or "database" not in health:
        raise PushError(f"{where} does not answer like Grafana: GET /api/health gave {str(health)[:60]!r}")
    progress(f"Grafana {health.get('version', '?')} at {where}, database {health['database']}")
    fuid = folder_uid(folder)
    existing = {f.get("uid"): f for f in call("listing folders", api.folder.get_all_folders) or []}
    if fuid not in existing:
        call(f"creating folder {folder!r}", api.folder.create_folder, folder, fuid)
        progress(f"created folder {folder!r} (uid {fuid})")
    elif existing[fuid].get("title") != folder:
        call(f"renaming folder {fuid}", lambda: api.folder.update_folder(fuid, title=folder, overwrite=True))
        progress(f"renamed folder {fuid} to {folder!r}")
    else:
        progress(f"folder {folder!r} exists (uid {fuid})")
    urls = []
    for uid, doc in sorted(dashboards(c, _catalog_name(c)).items()):
        body = {"dashboard": {**doc, "id": None}, "folderUid": fuid, "overwrite": True,
                "message": f"moneypath push from {_catalog_name(c)}"}
        result = call(f"saving dashboard {uid}", api.dashboard.update_dashboard, body) or {}
        link = where + result.get("url", f"/d/{uid}")
        urls.append(link)
        progress(f"saved {doc['title']!r} version {result.get('version', '?')}: {link}")
    return urls


def _catalog_name(c: Catalog) -> str:
    from pathlib import Path

    return Path(c.path).name


def _message(exc) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    return str(exc)
