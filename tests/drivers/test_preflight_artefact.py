"""One pass for a file's pre-flight however its bytes arrive, and the artefact that keeps it beside the
stored file (drivers/serial/artefact.py): used when whole and made of that file, ignored otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmctl.drivers.serial.artefact import FORMAT, SUFFIX, PreflightArtefacts, decode, encode
from farmctl.drivers.serial.preflight import (
    BLOCK_COMMANDS,
    PreflightCache,
    Preflighter,
    PreflightError,
    PreflightIndex,
    preflight_file,
    preflight_index,
    preflight_text,
)

from farmctl.files import FileStore
from tests.drivers.test_parts import _tricky_file

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def fed(path: Path, size: int, max_line_bytes: int = 96) -> PreflightIndex:
    """The index a Preflighter makes of `path` fed in chunks of `size` bytes."""
    checker = Preflighter(str(path), max_line_bytes)
    data = path.read_bytes()
    for at in range(0, len(data), size):
        checker.feed(data[at : at + size])
    return checker.finish(path)


@pytest.mark.parametrize("size", [1, 7, 4093, 1 << 20])
def test_any_chunking_gives_the_index_of_the_whole_file(tmp_path: Path, size: int) -> None:
    part = tmp_path / "part.gcode"
    text = _tricky_file(part, 3 * BLOCK_COMMANDS + 17 if size > 1 else BLOCK_COMMANDS + 3)
    assert fed(part, size) == preflight_index(part)
    assert list(preflight_file(part).commands) == preflight_text(text).commands


def test_utf8_then_other_bytes_is_read_as_latin1_like_a_whole_file(tmp_path: Path) -> None:
    """A UTF-8 comment and, a megabyte later, a byte that is no UTF-8: the whole file is Latin-1, so the
    comment's two bytes are two characters, also for what was already read."""
    part = tmp_path / "part.gcode"
    filler = "".join(f"G1 X{i % 100} Y{i % 7}\n" for i in range(80_000))
    part.write_bytes("; Grüße\n".encode() + filler.encode() + b"; \xe9t\xe9\nG28\n")
    index = fed(part, 4096)
    assert index.encoding == "latin-1"
    assert index == preflight_index(part)
    assert list(index.result(part).commands) == preflight_text(part.read_bytes().decode("latin-1")).commands


def test_a_refusal_names_the_line_whatever_the_chunks(tmp_path: Path) -> None:
    part = tmp_path / "part.gcode"
    part.write_text("G28\n" * 3000 + "M117 café\n", encoding="utf-8")
    for size in (5, 1 << 20):
        with pytest.raises(PreflightError, match=r"part.gcode:3001: non-ASCII character 'é'"):
            fed(part, size)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[FileStore, str, Path]:
    files = FileStore(tmp_path / "files")
    part = tmp_path / "part.gcode"
    _tricky_file(part, 2 * BLOCK_COMMANDS + 5)
    kept = files.put(part)
    return files, kept.sha256, kept.path


def test_a_kept_preflight_is_used_instead_of_reading_the_file(stored: tuple[FileStore, str, Path]) -> None:
    files, sha, path = stored
    artefacts = PreflightArtefacts(files)
    assert artefacts.save(sha, preflight_index(path))
    assert files.sidecar(sha, SUFFIX).is_file() and f"preflight{FORMAT}" == SUFFIX
    cache = PreflightCache(kept=artefacts)
    result = cache.get(path)
    assert (cache.from_kept, cache.read_through) == (1, 0)
    expected = preflight_file(path)
    assert list(result.commands) == list(expected.commands)
    assert (result.total_bytes, result.shortened) == (expected.total_bytes, expected.shortened)


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


@pytest.mark.parametrize("damage", [
    lambda data: b"",
    lambda data: data[: len(data) // 2],  # cut short (a full disk, a crash before rename: never, but)
    _flip,  # one bit
    lambda data: data.replace(b'"format":1', b'"format":0'),  # another farmctl's format
])
def test_a_damaged_artefact_falls_back_to_reading_the_file_and_is_made_again(
    stored: tuple[FileStore, str, Path], damage: object
) -> None:
    files, sha, path = stored
    artefacts = PreflightArtefacts(files)
    artefact = files.sidecar(sha, SUFFIX)
    artefacts.save(sha, preflight_index(path))
    artefact.write_bytes(damage(artefact.read_bytes()))  # type: ignore[operator]
    cache = PreflightCache(kept=artefacts)
    assert list(cache.get(path).commands) == list(preflight_file(path).commands)
    assert (cache.from_kept, cache.read_through) == (0, 1)
    again = PreflightCache(kept=artefacts)
    again.get(path)
    assert (again.from_kept, again.read_through) == (1, 0)  # the fallback kept a good one


def test_an_artefact_is_only_good_for_its_own_file(stored: tuple[FileStore, str, Path]) -> None:
    _, sha, path = stored
    data = encode(preflight_index(path), sha)
    size = path.stat().st_size
    assert decode(data, sha, size) == preflight_index(path)
    assert decode(data, "0" * 64, size) is None
    assert decode(data, sha, size + 1) is None


def test_another_line_limit_uses_the_artefact_only_where_it_changes_nothing(tmp_path: Path) -> None:
    """Made for 96 bytes: a printer with 200 gets the same commands when nothing needed shortening; a
    printer with 40 is checked for its own limit, which shortens or refuses."""
    files = FileStore(tmp_path / "files")
    plain, long = tmp_path / "plain.gcode", tmp_path / "long.gcode"
    plain.write_text("G28\n" + "G1 X10.5000 Y20.2500 E0.12345 F1800\n" * 50)
    zeros = "0" * 10
    long.write_text(f"G28\nG1 X10.5{zeros} Y20.25{zeros} Z0.3{zeros} E0.12345{zeros} F1800.0{zeros}\n")
    for source in (plain, long):
        kept = files.put(source)
        index = preflight_index(kept.path)
        assert index.shortened == (source is long)  # 87 bytes: shortened to fit 96 once numbered
        PreflightArtefacts(files).save(kept.sha256, index)
        for limit in (200, 96, 40):
            cache = PreflightCache(kept=PreflightArtefacts(files))
            try:
                expected = list(preflight_file(kept.path, limit).commands)
            except PreflightError as error:
                with pytest.raises(PreflightError, match=str(error).split(": ", 1)[1][:40]):
                    cache.get(kept.path, limit)
                continue
            assert list(cache.get(kept.path, limit).commands) == expected
            # The artefact serves 96 always, 200 only for the file that needed no shortening at 96.
            used = limit == 96 or (limit == 200 and source is plain)
            assert (cache.from_kept, cache.read_through) == ((1, 0) if used else (0, 1)), (source, limit)


def test_ensure_makes_the_artefact_of_a_file_without_one(stored: tuple[FileStore, str, Path]) -> None:
    files, sha, path = stored
    artefacts = PreflightArtefacts(files)
    assert not files.sidecar(sha, SUFFIX).exists()
    assert artefacts.ensure(sha)
    assert artefacts.load(path, 96) is not None
    assert not artefacts.ensure("f" * 64)  # no such file: nothing made, nothing raised


@pytest.mark.skipif(not (CORPUS / "ps25_mk3s_gear_0.20q.gcode").is_file(), reason="no ../shared/corpus")
def test_the_gear_from_its_artefact_streams_what_a_fresh_check_streams(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "files")
    kept = files.put(CORPUS / "ps25_mk3s_gear_0.20q.gcode")
    assert PreflightArtefacts(files).ensure(kept.sha256)
    loaded = PreflightArtefacts(files).load(kept.path, 96)
    assert loaded is not None
    fresh = preflight_file(kept.path)
    assert len(loaded.commands) == len(fresh.commands) and loaded.total_bytes == fresh.total_bytes
    view = loaded.job_lines()
    for index in (0, 1, BLOCK_COMMANDS, len(view) // 2, len(view) - 1):
        assert view[index] == fresh.commands[index]


def _plain_file(path: Path) -> str:
    """ASCII with `\n` ends only (the scanned path, linescan.py) and every line the rules treat apart:
    comments, blank and comment-only lines, tabs and runs of blanks, paren comments, a control byte,
    lines that are shortened to fit, semicolons inside paren comments, blanks before a comment."""
    kinds = [
        "G1 X{i}.5 Y{i} E0.{i} F1800", "G1  X{i}\tY2 ;move", "   ", "; layer {i}", "",
        "M104 S200 (warm) ; c", "G1 X{i} (a;b) Y1", "\tG28  ", "M117 \x1fodd", ";",
        "G1 X{i}.5{z} Y20.25{z} Z0.3{z} E0.12345{z} F1800.0{z}",  # shortened to fit
        "G1 X1 ( unclosed", "M105;", " ; only a comment",
    ]
    lines = [kinds[i % len(kinds)].format(i=i, z="0" * 12) for i in range(3 * BLOCK_COMMANDS + 40)]
    text = "\n".join(lines) + "\n"
    path.write_bytes(text.encode("ascii"))
    return text


@pytest.mark.parametrize("size", [3, 1000, 1 << 20])
def test_the_scanned_check_of_plain_lines_is_the_line_by_line_check(tmp_path: Path, size: int) -> None:
    part = tmp_path / "part.gcode"
    text = _plain_file(part)
    expected = preflight_text(text)
    index = fed(part, size)
    assert index.shortened > 0 and index == preflight_index(part)
    result = index.result(part)
    assert list(result.commands) == expected.commands and result.source_lines == expected.source_lines
    assert (result.total_bytes, result.shortened) == (expected.total_bytes, expected.shortened)
    assert index.longest == max(map(len, expected.commands))


def test_a_scanned_refusal_names_its_line(tmp_path: Path) -> None:
    part = tmp_path / "part.gcode"
    part.write_text("G28\n" * 700 + "M117 " + "x" * 90 + "\n" + "G28\n" * 10)
    with pytest.raises(PreflightError, match=r"part.gcode:701: command is 95 bytes"):
        preflight_file(part)
