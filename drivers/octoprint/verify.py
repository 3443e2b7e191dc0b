"""Check an OctoPrint before it joins the farm (``farmctl printers add ID --octoprint URL --api-key KEY``).

Each problem an operator can hit at that moment gets its own message: a URL that is not an
OctoPrint, nothing listening, a TLS failure, a refused key, a key without the permissions farmctl
needs, or an OctoPrint whose printer is not connected. All of them are `farmctl.errors.UserError`
subclasses, so the CLI prints one line and exits non-zero.
"""

from __future__ import annotations

from pathlib import Path

from farmctl.redact import mask_url_passwords

from .errors import OctoPrintAuthError, OctoPrintError, mask_key
from .http import Verify
from .models import OctoPrintInfo, OctoPrintState
from .rest import OctoPrintClient

#: Permissions (OctoPrint 1.4+) that driving a printer needs; admins hold them all.
REQUIRED_PERMISSIONS = ("STATUS", "CONNECTION", "FILES_UPLOAD", "FILES_SELECT", "PRINT", "CONTROL")


def verify_octoprint(
    url: str,
    api_key: str,
    timeout: float = 10.0,
    *,
    verify_tls: Verify = True,
    require_printer: bool = True,
) -> OctoPrintInfo:
    """Prove that ``url`` is an OctoPrint that accepts ``api_key`` and has its printer connected.

    ``timeout`` bounds each request (connect and read). ``verify_tls`` is True (system CAs), a CA
    bundle path, or False (only for a lab OctoPrint with a self-signed certificate).
    ``require_printer=False`` accepts an OctoPrint whose printer is currently disconnected.
    """
    client = OctoPrintClient(url, api_key, timeout=(min(timeout, 5.0), timeout), verify=verify_tls)
    try:
        version = client.version()
        user = client.current_user()
        name = str(user.get("name") or "")
        if not name:
            # /api/currentuser answers for anonymous callers too; no name means the key was not used.
            raise OctoPrintAuthError(f"OctoPrint at {client.base_url} did not accept the API key "
                                     f"{mask_key(api_key)}; create an Application Key and use that")
        granted = set(user.get("permissions") or ())
        missing = [p for p in REQUIRED_PERMISSIONS if p not in granted and "ADMIN" not in granted]
        if missing:
            raise OctoPrintAuthError(
                f"the API key of user {name!r} on {client.base_url} lacks OctoPrint permission(s) "
                f"{', '.join(missing)}; grant them to that user or use a key of a user who has them"
            )
        connection = client.connection()
        snapshot = client.snapshot()
    finally:
        client.close()
    current = connection.get("current") or {}
    state_text = str(current.get("state") or snapshot.state_text)
    if require_printer and snapshot.state in (OctoPrintState.DISCONNECTED, OctoPrintState.ERROR,
                                              OctoPrintState.CONNECTING):
        raise OctoPrintError(
            f"OctoPrint at {client.base_url} works, but its printer is not connected (state: "
            f"{state_text}); connect the printer in OctoPrint's Connection panel, then add it again"
        )
    return OctoPrintInfo(
        url=mask_url_passwords(client.base_url),  # for display: never the password
        server_version=str(version.get("server") or ""),
        api_version=str(version.get("api") or ""),
        user=name,
        printer_state=state_text,
        serial_port=str(current["port"]) if current.get("port") else None,
        printer_profile=str(current["printerProfile"]) if current.get("printerProfile") else None,
    )


def read_api_key_file(path: Path) -> str:
    """The key from ``--api-key-file`` (first non-empty line), so it stays out of shell history."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OctoPrintError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    raise OctoPrintError(f"the API key file {path} is empty; put the Application Key on its first line")
