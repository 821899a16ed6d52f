"""A small client for the parts of Label Studio's HTTP API the labeling loop uses.

The token comes from ``LABEL_STUDIO_API_KEY``: a legacy token (``Authorization: Token``)
or a personal access token (a JWT refresh token, exchanged for an access token).
"""

from __future__ import annotations

import os
from typing import Any

import httpx

TOKEN_ENV = "LABEL_STUDIO_API_KEY"


class LabelStudioError(RuntimeError):
    """Label Studio answered with an error, or cannot be reached; the message says which."""


class LabelStudio:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        token = token or os.environ.get(TOKEN_ENV)
        if not token:
            raise LabelStudioError(f"no Label Studio token: set {TOKEN_ENV} (Account & Settings in Label Studio)")
        self.url = url.rstrip("/")
        try:
            self.client = httpx.Client(base_url=self.url, timeout=timeout)
        except httpx.InvalidURL as exc:
            raise LabelStudioError(f"{url}: not a URL ({exc})") from None
        self.client.headers["Authorization"] = self._auth_header(token)

    def _auth_header(self, token: str) -> str:
        if token.count(".") != 2:  # a legacy token; a personal access token is a JWT
            return f"Token {token}"
        access = self._call("POST", "/api/token/refresh", json={"refresh": token})["access"]
        return f"Bearer {access}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self.client.request(method, path, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise LabelStudioError(f"{self.url}: cannot reach Label Studio ({exc})") from None
        if r.status_code >= 400:
            raise LabelStudioError(f"{method} {self.url}{path}: HTTP {r.status_code}: {_gist(r.text)}")
        try:
            return r.json() if r.content else None
        except ValueError:  # a login page, a proxy's error page: not Label Studio's API
            raise LabelStudioError(f"{method} {self.url}{path}: the answer is not JSON ({_gist(r.text)}); is {self.url} "
                                   "Label Studio, and the token right?") from None

    def project_by_title(self, title: str) -> dict[str, Any] | None:
        page = self._call("GET", "/api/projects", params={"title": title, "page_size": 1000})
        projects = page["results"] if isinstance(page, dict) else page
        return next((p for p in projects if p.get("title") == title), None)

    def ensure_project(self, title: str, label_config: str, description: str = "") -> dict[str, Any]:
        """The project with this title (its config updated), or a new one."""
        project = self.project_by_title(title)
        if project is None:
            return self._call("POST", "/api/projects", json={"title": title, "label_config": label_config,
                                                            "description": description})
        return self._call("PATCH", f"/api/projects/{project['id']}", json={"label_config": label_config})

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", f"/api/projects/{project_id}/import", json=tasks)

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        page = self._call("GET", "/api/tasks", params={"project": project_id, "page_size": 10000})
        return page["tasks"] if isinstance(page, dict) else page

    def annotate(self, task_id: int, label: str, from_name: str = "label", to_name: str = "text") -> dict[str, Any]:
        """Submit an annotation as an annotator would (used by tests and demos)."""
        result = [{"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": [label]}}]
        return self._call("POST", f"/api/tasks/{task_id}/annotations", json={"result": result, "was_cancelled": False})

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """The project's JSON export: every task with its annotations, annotators named by e-mail."""
        tasks = self._call("GET", f"/api/projects/{project_id}/export", params={"exportType": "JSON", "download_all_tasks": "true"})
        users = {u["id"]: u for u in self._call("GET", "/api/users")}
        for t in tasks:
            for a in t.get("annotations") or []:
                if isinstance(a.get("completed_by"), int) and a["completed_by"] in users:
                    u = users[a["completed_by"]]
                    a["completed_by"] = {"id": u["id"], "email": u.get("email"), "username": u.get("username")}
        return tasks


def _gist(text: str) -> str:
    """The start of an answer's text on one line (an HTML page printed 12 lines of markup)."""
    return " ".join(text.split())[:120]
