"""One OctoPrint's REST API: octorest, with its 0.4 bugs worked around, behind typed methods.

What is fixed relative to plain ``octorest.OctoRest`` (see the module docstrings of `http` and
`upload` for the why):

* every request has a timeout, only idempotent ones are retried, TLS is verified by default;
* failures are typed (`errors`) with one-line messages instead of ``RuntimeError(<body>)``;
* a URL path prefix (reverse proxy) is kept, where octorest keeps only scheme://host:port;
* replies without a body (204) do not crash on ``.json()``;
* uploads are streamed with progress, with ``path``/``select``/``print`` sent as form fields;
* folder creation sends form fields (octorest's JSON body gets 400).

A client is not thread-safe (nor is the requests session under it): make one per thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from octorest import OctoRest

from .errors import OctoPrintConflict, OctoPrintError, OctoPrintRequestError, scrub
from .http import (
    DEFAULT_TIMEOUT,
    TimeoutSession,
    Verify,
    map_status,
    map_transport_error,
    normalise_base_url,
    not_octoprint,
)
from .models import (
    JobSnapshot,
    OctoPrintSnapshot,
    OctoPrintState,
    parse_job,
    parse_state,
    parse_temperatures,
)
from .upload import MultipartFile, ProgressCallback, open_upload

log = logging.getLogger(__name__)


class _PatchedOctoRest(OctoRest):  # octorest ships no type information: its methods are Any
    """octorest with the transport routed through our checked request path."""

    def __init__(self, *, base_url: str, api_key: str, session: requests.Session) -> None:
        # No apikey here: octorest would fetch /api/version unguarded in the constructor.
        super().__init__(url=base_url, session=session)
        self.base_url = base_url
        self._api_key = api_key
        session.headers["X-Api-Key"] = api_key

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.base_url + path
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise map_transport_error(exc, self.base_url, self._api_key) from None
        if not 200 <= response.status_code < 300:
            raise map_status(response, self.base_url, self._api_key)
        return response

    def _json(self, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise not_octoprint(self.base_url, f"non-JSON reply from {scrub(response.url, self._api_key)}")\
                from None

    # octorest funnels every call through these four; overriding them fixes all 94 methods.
    def _get(self, path: str, params: Any = None) -> Any:
        return self._json(self._request("GET", path, params=params))

    def _post(self, path: str, data: Any = None, files: Any = None, json: Any = None,
              ret: bool = True) -> Any:
        response = self._request("POST", path, data=data, files=files, json=json)
        return self._json(response) if ret else None

    def _delete(self, path: str) -> None:
        self._request("DELETE", path)

    def _put(self, path: str, data: Any = None, files: Any = None, json: Any = None, ret: bool = True) -> Any:
        response = self._request("PUT", path, data=data, files=files, json=json)
        return self._json(response) if ret else None

    def new_folder(self, folder_name: str, location: str = "local") -> Any:
        return self._post(f"/api/files/{location}", data={"foldername": folder_name})


class OctoPrintClient:
    """Typed operations on one OctoPrint. Raises `errors.OctoPrintError` subclasses only."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        verify: Verify = True,
    ) -> None:
        if not api_key or not api_key.strip():
            raise OctoPrintError("no API key given; create an Application Key in OctoPrint and pass it")
        self.base_url = normalise_base_url(url)
        self.verify = verify
        self.timeout = timeout
        self._api_key = api_key.strip()
        self.session = TimeoutSession(timeout=timeout, verify=verify)
        self.octo = _PatchedOctoRest(base_url=self.base_url, api_key=self._api_key, session=self.session)

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:  # never the key
        return f"OctoPrintClient({self.base_url!r})"

    # -- reading -----------------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        try:
            reply = self.octo.get_version()
        except OctoPrintRequestError as exc:
            if exc.status == 404:
                raise not_octoprint(self.base_url, "no /api/version there") from None
            raise
        if not isinstance(reply, dict) or "server" not in reply:
            raise not_octoprint(self.base_url, "/api/version has no server version")
        return reply

    def current_user(self) -> dict[str, Any]:
        reply = self.octo._get("/api/currentuser")
        return reply if isinstance(reply, dict) else {}

    def connection(self) -> dict[str, Any]:
        reply = self.octo.connection_info()
        return reply if isinstance(reply, dict) else {}

    def snapshot(self) -> OctoPrintSnapshot:
        """State, job, progress and temperatures by polling (the push API's fallback and reconciler)."""
        job_reply = self.octo.job_info() or {}
        try:
            printer = self.octo.printer(exclude=["sd"]) or {}
        except OctoPrintConflict:
            # 409 "Printer is not operational": the server is fine, its printer is not connected.
            printer = {}
        if printer:
            state, text, error = parse_state(printer.get("state"))
        else:
            state, text, error = OctoPrintState.DISCONNECTED, str(job_reply.get("state") or "Offline"), None
            if text.startswith("Error") or text.startswith("Offline after error"):
                state, error = OctoPrintState.ERROR, job_reply.get("error") or text
        job: JobSnapshot | None = parse_job(job_reply.get("job"), job_reply.get("progress"))
        temps = parse_temperatures(printer.get("temperature"))
        return OctoPrintSnapshot(state, text, error, job, temps, "poll", time.time())

    def passive_login(self) -> tuple[str, str]:
        """``(user name, session id)`` for authenticating the push socket with this key."""
        reply = self.octo._post("/api/login", json={"passive": True}) or {}
        name, session = reply.get("name"), reply.get("session")
        if not name or not session:
            raise OctoPrintError(f"OctoPrint at {self.base_url} gave no session for the push API")
        return str(name), str(session)

    # -- files -------------------------------------------------------------------------------------

    def ensure_folder(self, folder: str) -> None:
        # 409: it exists (a *file* of that name also gives 409; the upload then says so).
        with contextlib.suppress(OctoPrintConflict):
            self.octo.new_folder(folder)

    def upload(
        self,
        source: Path,
        *,
        folder: str,
        file_name: str,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Stream ``source`` to ``local/<folder>/<file_name>``; returns the stored path.

        It does not select or print: that is a separate, checked step, so a printer that became busy
        during a long upload gives a clear 409 instead of OctoPrint's silent ``effectivePrint: false``.
        """
        stream, size = open_upload(source)
        try:
            body = MultipartFile(stream, file_name=file_name, size=size,
                                 fields={"path": folder, "select": "false", "print": "false"},
                                 progress=progress)
            response = self.octo._request("POST", "/api/files/local", data=body,
                                          headers={"Content-Type": body.content_type})
        finally:
            stream.close()
        reply = self.octo._json(response) or {}
        stored = ((reply.get("files") or {}).get("local") or {}).get("path")
        if not stored:
            raise OctoPrintRequestError(f"OctoPrint at {self.base_url} did not confirm the upload",
                                        status=response.status_code)
        return str(stored)

    def delete_file(self, path: str) -> None:
        self.octo.delete("local/" + quote(path))

    def file_exists(self, path: str) -> bool:
        try:
            self.octo.files_info("local", quote(path))
        except OctoPrintRequestError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- printing ----------------------------------------------------------------------------------

    def select_and_print(self, path: str) -> None:
        self.octo.select("local/" + quote(path), print=True)

    def pause(self) -> None:
        self.octo.pause()

    def resume(self) -> None:
        self.octo.resume()

    def cancel(self) -> None:
        self.octo.cancel()

    def send_commands(self, commands: list[str]) -> None:
        self.octo.gcode(commands)

    def connect_printer(self, port: str | None = None, baudrate: int | None = None) -> None:
        self.octo.connect(port=port, baudrate=baudrate)

    def disconnect_printer(self) -> None:
        self.octo.disconnect()
