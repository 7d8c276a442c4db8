"""The state folder's trust rules: private folders, no symlinks, exclusive temp files.

Everything the node reads or writes under ``<state_dir>/<trader_id>/`` (the risk state, the
status file, the control commands and their results) goes through these functions, so one
rule holds everywhere:

- every folder on the way (``state_dir``, ``<trader_id>/``, ``control/``, ``control/done/``)
  is a real directory (not a symlink) owned by the user running the node and not writable by
  group or others; missing folders are created mode 0700;
- a state or control file that is a symlink (dangling or not) is refused, never followed nor
  replaced: files are opened with ``O_NOFOLLOW``;
- temp files get a random name and are created exclusively (``O_CREAT | O_EXCL``, mode 0600),
  then renamed over the target, so nobody can plant the temp file in advance.

No Nautilus imports; POSIX only (the node runs on Linux).
"""

from __future__ import annotations

import os
import pwd
import secrets
import stat
from pathlib import Path

from quant_scalper.errors import QuantScalperError


class UnsafeStateFolderError(QuantScalperError):
    """A state/control folder or file is a symlink, not ours, or writable by others."""


def owner_name(uid: int) -> str:
    """The user name of ``uid`` (``uid <n>`` when it has no passwd entry)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _me() -> str:
    return owner_name(os.geteuid())


def check_private_dir(path: Path) -> None:
    """Raise UnsafeStateFolderError unless ``path`` is a real directory owned by this user and
    not writable by group or others (the message gives the path and the fix)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeStateFolderError(f"state folder {path} does not exist") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeStateFolderError(
            f"state folder {path} is a symlink: quant-scalper does not follow symlinks in its "
            f"state folder; point risk.state_dir at the real folder (`realpath {path}`)",
        )
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeStateFolderError(
            f"state folder {path} is not a directory: move it away or fix risk.state_dir",
        )
    if st.st_uid != os.geteuid():
        raise UnsafeStateFolderError(
            f"state folder {path} is owned by {owner_name(st.st_uid)}, not by {_me()} who runs "
            f"the node: another user could plant commands or files there; fix with "
            f"`chown {_me()} {path}` (or run the node as its owner)",
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeStateFolderError(
            f"state folder {path} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}): another user could plant commands or files "
            f"there; fix with `chmod go-w {path}` (or `chmod 700 {path}`)",
        )


def ensure_private_dir(path: Path, root: Path | None = None) -> None:
    """Create ``path`` (mode 0700, parents from ``root`` down) if missing, then check it and
    every folder from ``root`` down to it with ``check_private_dir``."""
    path = Path(path)
    chain = [path]
    if root is not None:
        root = Path(root)
        parts = path.relative_to(root).parts
        chain = [root, *(root.joinpath(*parts[: i + 1]) for i in range(len(parts)))]
    for folder in chain:
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(folder, 0o700, exist_ok=True)
        check_private_dir(folder)


def _refuse_symlink(path: Path, exc: OSError) -> UnsafeStateFolderError:
    return UnsafeStateFolderError(
        f"{path} is a symlink: quant-scalper refuses symlinks as state or control files "
        f"(they could make it read or overwrite another file); replace it with the real "
        f'file (`cp --remove-destination "$(readlink -f {path})" {path}`) or delete it',
    )


def _is_symlink(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def read_file(path: Path) -> tuple[bytes, os.stat_result]:
    """Read a state/control file without following a symlink; returns its bytes and stat.

    Raises FileNotFoundError when there is no entry, UnsafeStateFolderError for a symlink
    (dangling or not) or a non-regular file.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        if _is_symlink(path):
            raise _refuse_symlink(path, exc) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeStateFolderError(f"{path} is not a regular file: move it away")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_file_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: an exclusively created temp file with a random name in
    the same folder (mode 0600), fsynced, renamed over ``path``; the folder fsynced.

    Refuses (UnsafeStateFolderError) when ``path`` is a symlink. ``durable=False`` skips the
    fsyncs (the status file: rewritten every few seconds, losing one is harmless).
    """
    path = Path(path)
    if _is_symlink(path):
        raise _refuse_symlink(path, OSError())
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


STATE_SUBFOLDERS = ("control", "control/done", "fills", "fills/booked")
"""The folders under ``<state_dir>/<trader_id>/`` that the node reads commands or fills from."""


def check_state_folders(state_dir: Path, trader_id: str) -> Path:
    """Create ``<state_dir>/<trader_id>/`` if missing and check it, ``state_dir`` and every
    existing subfolder the node reads (``STATE_SUBFOLDERS``); returns the trader folder.

    Raises UnsafeStateFolderError (path and fix) on a symlink, another owner or a folder
    writable by group or others: the node must not start on a folder others can write to.
    """
    folder = Path(state_dir) / trader_id
    ensure_private_dir(folder, root=Path(state_dir))
    for name in STATE_SUBFOLDERS:
        sub = folder / name
        if os.path.lexists(sub):
            check_private_dir(sub)
    return folder
