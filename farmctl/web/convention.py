"""How an upload says which order it belongs to, how many copies and how urgent: the naming convention.

A slicer's upload dialog has a file name and (PrusaSlicer, OrcaSlicer) a folder; Cura's has only the
job name. So the farm reads its options from both, in one small vocabulary (docs/web.md):

* a folder that is an order id puts the file in that order:            `o3/housing.gcode`
* options in square brackets, anywhere in the file name or as a folder: `housing [o3 x4 high].gcode`,
  `o3/[x4]/housing.gcode`. Tokens: `o3` (order), `x4` or `4x` (copies), `low` `normal` `high`
  `urgent` (priority), and `order=o3`, `copies=4`, `priority=20`, `due=+3d` / `due=2026-12-01`.
* OctoPrint's `userdata` field, a JSON object: `{"farmctl": {"order": "o3", "copies": 4,
  "priority": "high", "due": "+3d"}}` (other keys belong to other tools and are left alone).

The brackets are taken out of the job's name (`housing [o3 x4].gcode` is queued as `housing.gcode`).
A folder that is neither an order nor options, an unknown token, or one option given twice with two
values is refused with one line naming it: a typo must not queue a file with the wrong copies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from farmctl.errors import UserError
from farmctl.ids import ID_PREFIX, format_id, parse_id

_BRACKETS = re.compile(r"\s*\[([^\[\]]*)\]\s*")
# An order token carries its prefix ("o3"): a bare number in a name is no order.
_ORDER = re.compile(rf"^{ID_PREFIX['order']}\d+$", re.IGNORECASE)
_COPIES = re.compile(r"^(?:[xX](\d+)|(\d+)[xX])$")
_SEPARATORS = re.compile(r"[\s,;]+")
_GAP = re.compile(r"[ _-]*\s[ _-]*")  # what is left where a bracket group was taken out
_PRIORITY_WORDS = ("low", "normal", "high", "urgent")
_KEYS = ("order", "copies", "priority", "due")


@dataclass(frozen=True)
class UploadOptions:
    """What the upload asked for, as typed (due and priority are read by the queue use case)."""

    job_name: str
    order: str | None = None
    copies: int | None = None
    priority: str | None = None
    due: str | None = None


def read_options(folder: str, file_name: str, userdata: str | None = None) -> UploadOptions:
    """The options of an upload to `folder` (may be empty) named `file_name` (may hold folders too)."""
    parts = [p for p in f"{folder}/{file_name}".replace("\\", "/").split("/") if p.strip()]
    if not parts:
        raise UserError("the upload has no file name; send the file part with a filename")
    *folders, name = parts
    found: dict[str, str] = {}
    for segment in folders:
        _read_folder(segment, found)
    job_name = name
    for group in _BRACKETS.findall(name):
        _read_tokens(group, f"file name '{name}'", found)
    if found or "[" in name:
        job_name = _clean_name(name)
    if userdata:
        _read_userdata(userdata, found)
    copies = found.get("copies")
    return UploadOptions(
        job_name=job_name,
        order=found.get("order"),
        copies=int(copies) if copies is not None else None,
        priority=found.get("priority"),
        due=found.get("due"),
    )


def _clean_name(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    # "housing_[x4]_PLA" -> "housing_PLA", "housing [x4]" -> "housing"
    joined = _GAP.sub(lambda gap: gap.group(0).replace(" ", "")[:1] or " ", _BRACKETS.sub(" ", stem))
    cleaned = joined.strip(" _-") or "upload"
    return f"{cleaned}.{extension}" if dot else cleaned


def _read_folder(segment: str, found: dict[str, str]) -> None:
    inner = segment.strip()
    bracketed = _BRACKETS.fullmatch(inner)
    if bracketed:
        _read_tokens(bracketed.group(1), f"folder '{segment}'", found)
        return
    if _ORDER.match(inner):
        _set(found, "order", _order(inner), f"folder '{segment}'")
        return
    raise UserError(
        f"the folder '{segment}' is neither an order id (e.g. o3) nor options in brackets (e.g. [x4 high]); "
        "see docs/web.md for the upload naming convention"
    )


def _read_tokens(text: str, where: str, found: dict[str, str]) -> None:
    for token in (t for t in _SEPARATORS.split(text) if t):
        key, value = _token(token, where)
        _set(found, key, value, where)


def _token(token: str, where: str) -> tuple[str, str]:
    if "=" in token:
        key, _, value = token.partition("=")
        key = key.strip().lower()
        if key not in _KEYS or not value.strip():
            raise UserError(
                f"'{token}' in the {where} is not an upload option; use order=, copies=, priority= or due="
            )
        return _checked(key, value.strip(), token, where)
    if _ORDER.match(token):
        return "order", _order(token)
    copies = _COPIES.match(token)
    if copies:
        return _checked("copies", copies.group(1) or copies.group(2), token, where)
    if token.lower() in _PRIORITY_WORDS:
        return "priority", token.lower()
    raise UserError(
        f"'{token}' in the {where} is not an upload option; use o3 (order), x4 (copies), "
        "low/normal/high/urgent (priority) or key=value (order, copies, priority, due)"
    )


def _checked(key: str, value: str, token: str, where: str) -> tuple[str, str]:
    if key == "copies" and (not value.isdigit() or int(value) < 1):
        raise UserError(f"'{token}' in the {where}: copies must be a whole number of at least 1")
    if key == "order" and not _ORDER.match(value) and not value.isdigit():
        raise UserError(f"'{token}' in the {where}: an order id looks like o3")
    return key, _order(value) if key == "order" else value


def _order(text: str) -> str:
    """An order as the ids module writes it: 'O03', 'o3' and (after order=) '3' are all 'o3'."""
    return format_id("order", parse_id("order", text))


def _read_userdata(text: str, found: dict[str, str]) -> None:
    try:
        document: Any = json.loads(text)
    except ValueError:
        return  # OctoPrint stores userdata for any tool; what is not JSON is not ours
    if not isinstance(document, dict) or "farmctl" not in document:
        return
    ours = document["farmctl"]
    if not isinstance(ours, dict):
        raise UserError(
            'userdata "farmctl" must be an object, e.g. {"farmctl": {"order": "o3", "copies": 2}}'
        )
    for key, raw in ours.items():
        if key not in _KEYS:
            raise UserError(f'userdata "farmctl" has an unknown key "{key}"; use {", ".join(_KEYS)}')
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise UserError(f'userdata "farmctl" "{key}" must be a string or a number, got {raw!r}')
        _, value = _checked(key, str(raw).strip(), f"{key}={raw}", "userdata")
        _set(found, key, value, "userdata")


def _set(found: dict[str, str], key: str, value: str, where: str) -> None:
    if key in found and found[key] != value:
        raise UserError(
            f"the upload gives {key} twice ({found[key]} and {value}, in the {where}); give it once"
        )
    found[key] = value
