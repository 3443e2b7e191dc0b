"""Requests shaped byte for byte like the slicers' own uploads, sent over a plain socket.

What each slicer sends (docs: /work/shared/reference/slicer-uploads.md; read from the slicers' host code):

* PrusaSlicer and OrcaSlicer (OctoPrint host type) use libcurl's MIME API: `X-Api-Key`, a boundary of
  dashes and hex digits, the fields `print`, `path`, then the file part with
  `Content-Type: application/octet-stream`, and `Expect: 100-continue` before a large body (curl then
  waits for the server's `100 Continue`).
* Cura's OctoPrint plugin uses Qt's QHttpMultiPart: a quoted `boundary_.oOo._...` boundary, every part
  with its own `Content-Type` (`text/plain` for fields), the fields `path`, `file`, then `select` and
  `print` when it prints; its User-Agent names Cura and the plugin.
* OrcaSlicer's Moonraker host type posts to `/server/files/upload` with `root`, `print`, `path`, `file`.
* PrusaSlicer's PrusaLink host type reads `/api/version` (`capabilities.upload-by-put`) and
  `/api/v1/storage`, then PUTs the file as the body to `/api/v1/files/<storage>/<path>`, each path
  element percent-escaped, with `X-Api-Key`, `Print-After-Upload: ?1` (only to print), then
  `Content-Type: text/x.gcode` and `Overwrite: ?1`, after libcurl's own Host, User-Agent and Accept.

The socket client sends exactly these bytes (no library reorders or adds headers) and reads the answer
with http.client's response parser.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send_raw(url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes,
             *, expect_continue: bool = False, timeout: float = 60) -> Answer:
    """One HTTP/1.1 request with exactly these headers, in this order (Host first, as curl and Qt do)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method not in ("GET", "HEAD"):  # libcurl sends no length for a GET
        lines.append(f"Content-Length: {len(body)}")
    if expect_continue:
        lines.append("Expect: 100-continue")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head)
        if expect_continue:
            interim = _read_interim(sock)
            if interim is not None:  # the server answered before the body: no 100, a final answer
                return interim
        sock.sendall(body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def _read_interim(sock: socket.socket) -> Answer | None:
    """curl waits for `100 Continue` before it sends the body; a server may answer at once instead
    (a refused key), and then that is the answer."""
    reader = sock.makefile("rb")
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return None
    return Answer(status, headers, reader.read(int(headers.get("content-length", "0"))))


def curl_multipart(fields: list[tuple[str, str]], file_name: str, content: bytes) -> tuple[str, bytes]:
    """libcurl's MIME body (curl_mime_name/data, curl_mime_filedata): fields, then the file part."""
    boundary = "-" * 24 + secrets.token_hex(8)
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    out += content + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def qt_multipart(parts: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """QHttpMultiPart's body: (content-disposition tail, content type, body) per part, Cura's order."""
    boundary = "boundary_.oOo._" + base64.b64encode(os.urandom(24)).decode()
    out = bytearray()
    for disposition, kind, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
        out += f"Content-Type: {kind}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f'multipart/form-data; boundary="{boundary}"', bytes(out)


def prusaslicer_upload(url: str, key: str, upload_path: str, content: bytes, *, start: bool,
                       agent: str = "PrusaSlicer/2.6.1") -> Answer:
    """PrusaSlicer's (and OrcaSlicer's OctoPrint type) "Upload" / "Upload and Print"."""
    folder, _, name = upload_path.rpartition("/")
    kind, body = curl_multipart([("print", "true" if start else "false"), ("path", folder)], name, content)
    headers = [("User-Agent", agent), ("Accept", "*/*"), ("X-Api-Key", key), ("Content-Type", kind)]
    return send_raw(url, "POST", "/api/files/local", headers, body, expect_continue=len(body) > 1024)


def orcaslicer_moonraker_upload(
    url: str, key: str, upload_path: str, content: bytes, *, start: bool
) -> Answer:
    folder, _, name = upload_path.rpartition("/")
    fields = [("root", "gcodes"), ("print", "true" if start else "false")]
    if folder:
        fields.append(("path", folder))
    kind, body = curl_multipart(fields, name, content)
    headers = [
        ("User-Agent", "OrcaSlicer/2.2.0"), ("Accept", "*/*"), ("X-Api-Key", key), ("Content-Type", kind)
    ]
    return send_raw(url, "POST", "/server/files/upload", headers, body, expect_continue=len(body) > 1024)


def cura_upload(
    url: str, key: str, job_name: str, content: bytes, *, start: bool, folder: str = ""
) -> Answer:
    """Cura's OctoPrint plugin: path, file, then select/print when it prints (upload options dialog)."""
    parts = [('name="path"', "text/plain", folder.encode()),
             (f'name="file"; filename="{job_name}.gcode"', "application/octet-stream", content)]
    if start:
        parts += [('name="select"', "text/plain", b"true"), ('name="print"', "text/plain", b"true")]
    kind, body = qt_multipart(parts)
    headers = [("X-Api-Key", key), ("Content-Type", kind), ("User-Agent", "Cura/5.7.0 OctoPrintPlugin/3.7.3"),
               ("Connection", "Keep-Alive"), ("Accept-Encoding", "gzip, deflate"),
               ("Accept-Language", "en-US,*")]
    return send_raw(url, "POST", "/api/files/local", headers, body)


def cura_select_and_print(url: str, key: str, end_point: str) -> Answer:
    """After an upload without the print fields: POST {"command": "select", "print": true}."""
    body = json.dumps({"command": "select", "print": True}).encode()
    headers = [("X-Api-Key", key), ("Content-Type", "application/json"),
               ("User-Agent", "Cura/5.7.0 OctoPrintPlugin/3.7.3")]
    return send_raw(url, "POST", "/api/" + end_point, headers, body)


def prusaslicer_prusalink_put(url: str, key: str, storage: str, upload_path: str, content: bytes, *,
                              start: bool, overwrite: bool = True) -> Answer:
    """The PUT of PrusaSlicer's PrusaLink host type (`overwrite=False`: a client other than PrusaSlicer,
    which always sends `Overwrite: ?1`)."""
    escaped = "/".join(quote(element, safe="") for element in upload_path.split("/"))
    headers = [("User-Agent", "PrusaSlicer/2.8.1"), ("Accept", "*/*"), ("X-Api-Key", key)]
    if start:
        headers.append(("Print-After-Upload", "?1"))
    headers.append(("Content-Type", "text/x.gcode"))
    if overwrite:
        headers.append(("Overwrite", "?1"))
    return send_raw(url, "PUT", f"/api/v1/files{storage}/{escaped}", headers, content,
                    expect_continue=len(content) > 1024)


def prusaslicer_prusalink_upload(url: str, key: str, upload_path: str, content: bytes, *,
                                 start: bool) -> Answer:
    """PrusaSlicer's PrusaLink "Upload" / "Upload and print": ask the version (PUT only when it says
    `upload-by-put`), pick the first writable storage with free space, PUT the file there."""
    auth = [("User-Agent", "PrusaSlicer/2.8.1"), ("Accept", "*/*"), ("X-Api-Key", key)]
    version = send_raw(url, "GET", "/api/version", auth, b"").json()
    assert "api" in version and version["text"].startswith(("PrusaLink", "OctoPrint")), version
    assert version.get("capabilities", {}).get("upload-by-put") is True, "PrusaSlicer would POST instead"
    storages = send_raw(url, "GET", "/api/v1/storage", auth, b"").json()["storage_list"]
    usable = [s["path"] for s in storages
              if s.get("available", True) and not s.get("read_only") and s.get("free_space", 1) > 0]
    return prusaslicer_prusalink_put(url, key, usable[0], upload_path, content, start=start)
