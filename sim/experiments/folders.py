"""The rules of every output folder clubsim writes (`OutputFolder`), and the manifest that vouches for it.

clubsim writes only into a new or empty folder or one whose manifest.json it wrote; it replaces or removes only
the files that manifest lists, as it wrote them (their size and SHA-256, recorded as each is written), and its
own parts and temporary files; one process at a time holds a folder (a
lock file); every file is written under a temporary name and renamed, and the manifest comes last, with each
file's size and SHA-256, which readers check (`verify_files`). Experiments, calibration, sensitivity, discovery,
selection and a run's folder (`sim.presentation.run_folder`) all write through it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sim.errors import InputError, OutputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    pass

MANIFEST = "manifest.json"
FLOAT_FORMAT = "%.10g"
OUT_OPTION = "--out"

LOCK_FILE = ".clubsim.lock"
TEMP_PREFIX = ".clubsim-tmp-"  # a file or folder being written; one left by a killed process is removed
PARTS = "parts"  # an experiment's finished replications, kept until it completes (`sim.experiments.experiment`)
# a part's name carries its SHA-256 (older clubsim: none), so a part is checked without the manifest
PART_NAME = re.compile(r"part-(?P<index>\d{5,})(?:-(?P<sha256>[0-9a-f]{64}))?\.parquet")
STATUS_WRITING = "writing"  # a run's manifest while its files are replaced: readers refuse the folder
STATUS_COMPLETE = "complete"
CHECKSUMS = "checksums"
HASH_CHUNK = 1 << 20
FIGURE_DPI = 110


# --------------------------------------------------------------------------- names and checksums


MAX_NAME_LENGTH = 100  # a folder's name holds it and "-<seed>"; file systems allow 255 bytes


def plain_name(name: str, source: str | Path | None, field: str | None) -> str:
    """`name` if it can name one file or folder (no path separator, not '.' or '..'); else InputError.

    Scenario and experiment names become output folders (`runs/<name>-<seed>`, `results/<name>`): a
    name such as '../../x' would put them, and what clubsim removes there, outside those folders.
    """
    separators = {"/", "\\", "\0", os.sep, *([os.altsep] if os.altsep else [])}
    if len(name) > MAX_NAME_LENGTH or len(name.encode("utf-8", "surrogatepass")) > 2 * MAX_NAME_LENGTH:
        raise InputError(source, field, f"is {len(name):,} characters long: a name names an output folder, "
                                        f"so at most {MAX_NAME_LENGTH} characters")
    if not name or name in (".", "..") or any(sep in name for sep in separators):
        raise InputError(source, field, f"{name!r} cannot name an output folder: use a plain file name "
                                        "(such as letters, digits, '-', '_' and '.'), with no '/' and not '..'")
    return name


def file_checksum(path: Path) -> dict[str, Any]:
    """A file's size and SHA-256, as a manifest records them: {"bytes": ..., "sha256": ...}."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def bytes_checksum(data: bytes) -> str:
    """The SHA-256 of some bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- folder


def os_reason(err: OSError) -> str:
    text = err.strerror or str(err)
    return text[:1].lower() + text[1:]


def _is_clubsims(name: str) -> bool:
    """Names only clubsim makes in an output folder: its lock and its temporary files."""
    return name == LOCK_FILE or name.startswith(TEMP_PREFIX)


def read_own_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest.json if clubsim wrote it (a JSON object naming clubsim's version), else None."""
    path = Path(folder) / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("versions"), dict) \
            or "clubsim" not in manifest["versions"] or not isinstance(manifest.get("files", []), list):
        return None
    return manifest


def listed_files(manifest: Mapping[str, Any] | None) -> list[str]:
    """The plain file names a manifest lists (a name with a path in it is ignored: never followed)."""
    names = (manifest or {}).get("files") or []
    return [name for name in names if isinstance(name, str) and name not in ("", ".", "..")
            and "/" not in name and "\\" not in name and "\0" not in name]


def check_clubsim_folder(folder: Path, option: str = OUT_OPTION) -> dict[str, Any] | None:
    """The folder's own manifest; InputError if the folder holds anything but clubsim's output.

    clubsim writes into a new or empty folder, or one holding a manifest.json it wrote: a folder
    of someone else's files is refused rather than mixed with (or cleared of) them.
    """
    manifest = read_own_manifest(folder)
    if manifest is not None:
        return manifest
    try:
        others = sorted(entry.name for entry in os.scandir(folder) if not _is_clubsims(entry.name))
    except OSError as err:
        raise InputError(folder, option, f"cannot read the folder: {os_reason(err)}") from None
    if not others:
        return None
    what = f"holds {MANIFEST} that clubsim did not write" if MANIFEST in others else \
        f"is not empty ({others[0]}{', ...' if len(others) > 1 else ''}) and holds no {MANIFEST} of clubsim"
    raise InputError(folder, option, f"{what}; clubsim writes only into a new or empty folder, or one it "
                                     "wrote before: choose another folder")


def _make_folder(out_dir: Path, option: str) -> Path:
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, option, "cannot write here: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(out_dir, option, "cannot write here: a parent exists and is not a folder") from None
    except OSError as err:
        raise InputError(out_dir, option, f"cannot write here: {os_reason(err)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}probe-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(out_dir, option, f"cannot write here: {os_reason(err)}") from None
    return out_dir


def prepare_out_dir(out_dir: Path, option: str = OUT_OPTION) -> Path:
    """Create `out_dir` (and its parents), check a file can be written there and that it is clubsim's.

    Call it before running a model so a bad `--out` fails fast. Raises
    `InputError(out_dir, "--out", "cannot write here: <reason>")`, or if the folder holds files and no
    manifest of clubsim (`check_clubsim_folder`). `OutputFolder` also locks the folder.
    """
    out_dir = _make_folder(out_dir, option)
    check_clubsim_folder(out_dir, option)
    return out_dir


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Write `path` through `write(temporary path)` in the same folder, flush it to disk, then rename it:
    a reader sees the old file or the whole new one, never a cut one. A failure (disk full, file too
    large) removes the temporary file and raises `OutputError` naming `path`."""
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:  # on disk before the rename: a crash leaves the old file or the new
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, None, f"cannot write: {os_reason(err)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """UTF-8 text with \\n line ends on every platform, written atomically (`atomic_write`)."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    return atomic_write(path, write)


def write_bytes(path: Path, data: bytes) -> Path:
    """Bytes, written atomically (`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def verify_files(folder: Path, manifest: Mapping[str, Any], names: Iterable[str] | None = None) -> None:
    """Check the files a manifest lists (or `names` of them) against their recorded sizes and SHA-256.

    Raises InputError naming the first file that is missing, a symbolic link, or different: a folder
    changed since clubsim wrote it, or mixed by a write cut short (disk full), is never read as valid.
    """
    folder = Path(folder)
    checksums = manifest.get(CHECKSUMS)
    if not isinstance(checksums, dict):
        raise InputError(folder / MANIFEST, CHECKSUMS, "missing: the files' sizes and SHA-256 are not recorded "
                                                        "(an older clubsim wrote it); run clubsim again here")
    for name in (listed_files(manifest) if names is None else names):
        if name == MANIFEST:
            continue
        path = folder / name
        if path.is_symlink():
            raise InputError(folder, name, "is a symbolic link; clubsim reads only the files it wrote")
        if not path.is_file():
            raise InputError(folder, name, f"missing: listed in {MANIFEST} but not in the folder")
        recorded = checksums.get(name)
        if not isinstance(recorded, dict):
            raise InputError(folder / MANIFEST, CHECKSUMS, f"{name}: not recorded; run clubsim again here")
        found = file_checksum(path)
        if found != {"bytes": recorded.get("bytes"), "sha256": recorded.get("sha256")}:
            what = "size" if found["bytes"] != recorded.get("bytes") else "SHA-256"
            raise InputError(path, None, f"does not match {MANIFEST} ({what} differs): changed since clubsim "
                                         "wrote it, or its write was cut short; run clubsim again to rewrite "
                                         "the folder")


class FolderLock:
    """One process at a time writes a folder: an exclusive `flock` on `.clubsim.lock`, which records the
    holder (pid, host, command, since). The kernel drops the lock when its process dies, so a lock file
    left by a killed process is simply taken over."""

    def __init__(self, folder: Path, option: str = OUT_OPTION):
        self.path = Path(folder) / LOCK_FILE
        self.folder = Path(folder)
        self.option = option
        self._fd: int | None = None

    def acquire(self, *, reading: bool = False) -> None:
        """Hold the folder, or raise InputError naming the process that holds it. `reading`: a folder
        where no lock file can be made (read-only) is read unlocked, since nobody can write it either."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                if reading and err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                    return
                raise InputError(self.folder, self.option, f"cannot lock: {os_reason(err)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                os.close(fd)
                raise InputError(self.folder, self.option, f"in use by another clubsim ({holder}); wait for it "
                                                           "to end, or choose another folder") from None
            except OSError as err:
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    os.close(fd)
                    raise InputError(self.folder, self.option, f"cannot lock: {os_reason(err)}") from None
                # a file system without locks (some network mounts): go on unlocked rather than refuse
            try:  # the holder this replaces may have removed the file meanwhile: hold the one at the path
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command_text(sys.argv),
                  "since": datetime.now(UTC).replace(microsecond=0).isoformat()}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        self._fd = fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode() or "null")
            return f"pid {holder['pid']} on {holder['host']} since {holder['since']}: {holder['command']}"
        except (OSError, ValueError, TypeError, KeyError):
            return f"see {LOCK_FILE}"

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still held: a waiting process then locks a new file
        os.close(self._fd)
        self._fd = None


class OutputFolder:
    """An output folder this process holds: created, checked to be clubsim's, locked (`FolderLock`).

    `previous` is the manifest found there. Files are written atomically (`write_text`, `write_with`,
    `adopt`); `remove` and replacing touch only what clubsim owns here (`owned`), and of those only a file
    that is as clubsim wrote it (`is_clubsims`: its size and SHA-256 as recorded when it was written);
    `finish` writes the manifest last, with each file's size and SHA-256. Use it as a context manager.

    `in_place`: names a library writes here itself, not through this folder (ABC's abc.db, which pyABC
    updates as it goes): listed in the manifest, they are clubsim's whatever their content.
    """

    def __init__(self, path: Path, option: str = OUT_OPTION, in_place: Iterable[str] = ()):
        self.path = Path(path).expanduser()
        self.option = option
        self.previous: dict[str, Any] | None = None
        self.in_place = frozenset(in_place)
        self._written: dict[str, dict[str, Any]] = {}  # size and SHA-256 of the files this process wrote here
        self._hashed: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}  # name -> (its stat, checksum)
        self._lock = FolderLock(self.path, option)

    def __enter__(self) -> OutputFolder:
        self.claim()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def claim(self) -> None:
        """Create the folder, refuse someone else's, lock it, remove temporary files a killed clubsim left."""
        _make_folder(self.path, self.option)
        check_clubsim_folder(self.path, self.option)
        self._lock.acquire()
        try:
            self.previous = check_clubsim_folder(self.path, self.option)  # again, now that it is ours alone
            for entry in os.scandir(self.path):
                if entry.name.startswith(TEMP_PREFIX):
                    self._remove_entry(Path(entry.path))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        self._lock.release()

    @staticmethod
    def _remove_entry(path: Path) -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    @property
    def owned(self) -> set[str]:
        """Files clubsim may replace or remove here: those the folder's manifest lists, and its parts."""
        names = set(listed_files(self.previous))
        if self.previous is not None:
            names.add(MANIFEST)
            names.update(f"{PARTS}/{name}" for name in self.parts())
        return names

    def parts(self) -> list[str]:
        """The names of the experiment parts in `parts/` (clubsim's names only), in order."""
        folder = self.path / PARTS
        if folder.is_symlink() or not folder.is_dir():
            return []
        return sorted(entry.name for entry in os.scandir(folder) if PART_NAME.fullmatch(entry.name)
                      and not entry.is_symlink() and entry.is_file())

    def recorded(self) -> dict[str, dict[str, Any]]:
        """The size and SHA-256 of each file clubsim wrote here, as far as it knows: the manifest's, and those
        of the files this process wrote since."""
        recorded = (self.previous or {}).get(CHECKSUMS)
        return {**(recorded if isinstance(recorded, dict) else {}), **self._written}

    def is_clubsims(self, name: str) -> bool:
        """Whether clubsim may replace or remove `name` here: the manifest lists it (or it is a part, whose name
        holds its SHA-256), and the file is as clubsim wrote it (its recorded size and SHA-256), is not
        there, or is a symbolic link (replaced, never followed). A file the manifest lists but that clubsim
        never wrote (an interrupted run lists what it will write) or that changed since is the user's."""
        if name not in self.owned:
            return False
        path = self.path / name
        if name == MANIFEST or name.startswith(f"{PARTS}/") or name in self.in_place or path.is_symlink() \
                or not path.exists():
            return True
        recorded = self.recorded().get(name)
        return isinstance(recorded, dict) and path.is_file() and \
            self._checksum(name) == {"bytes": recorded.get("bytes"), "sha256": recorded.get("sha256")}

    def _checksum(self, name: str) -> dict[str, Any]:
        """`file_checksum` of a file here, hashed once while it stays the same file (inode, size, mtime): a
        file is checked before it is replaced, recorded when written and listed in the final manifest."""
        st = os.stat(self.path / name)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        known = self._hashed.get(name)
        if known is None or known[0] != key:
            known = (key, file_checksum(self.path / name))
            self._hashed[name] = known
        return known[1]

    def check_free(self, names: Iterable[str]) -> None:
        """InputError if a file clubsim is about to write exists here and is not clubsim's."""
        owned = self.owned
        for name in names:
            path = self.path / name
            if not (path.exists() or path.is_symlink()) or self.is_clubsims(name):
                continue
            if name not in owned:
                raise InputError(path, None, f"exists and clubsim did not write it (not in {MANIFEST}); "
                                             "clubsim does not overwrite it: move it away or choose another "
                                             "folder")
            raise InputError(path, None, f"is not the file clubsim wrote here (its size or SHA-256 is not what "
                                         f"{MANIFEST} records: changed since, or never clubsim's); clubsim does "
                                         "not overwrite it: move it away or choose another folder")

    def _wrote(self, name: str, path: Path) -> Path:
        """Record a file just written; an unfinished manifest that lists it is rewritten to vouch for it, so that a
        run cut short after it (disk full, a kill) finds it clubsim's."""
        self._written[name] = self._checksum(name)
        self._vouch_for(name)
        return path

    def _vouch_for(self, name: str) -> None:
        manifest = self.previous
        if manifest is not None and manifest.get("status", STATUS_COMPLETE) != STATUS_COMPLETE \
                and name in listed_files(manifest):
            self.write_manifest(manifest)

    def write_with(self, name: str, write: Callable[[Path], Any]) -> Path:
        """Write `name` here atomically through `write(temporary path)`."""
        self.check_free([name])
        return self._wrote(name, atomic_write(self.path / name, write))

    def write_text(self, name: str, text: str) -> Path:
        self.check_free([name])
        return self._wrote(name, write_text(self.path / name, text))

    def staging(self) -> Path:
        """A new temporary folder here, for files drawn elsewhere (figures); `adopt` moves them in."""
        path = self.path / f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
        except OSError as err:
            raise OutputError(path, None, f"cannot write: {os_reason(err)}") from None
        return path

    def adopt(self, paths: Iterable[Path]) -> dict[str, Path]:
        """Move files from a staging folder into this one (a rename each: atomic); {name: new path}."""
        moved: dict[str, Path] = {}
        for source in paths:
            source = Path(source)
            target = self.path / source.name
            self.check_free([source.name])
            try:
                with open(source, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(source, target)
            except OSError as err:
                raise OutputError(target, None, f"cannot write: {os_reason(err)}") from None
            moved[target.name] = self._wrote(target.name, target)
        return moved

    def discard(self, staging: Path) -> None:
        """Remove a staging folder (and whatever it still holds)."""
        if staging.name.startswith(TEMP_PREFIX) and staging.parent == self.path:
            self._remove_entry(staging)

    def remove(self, names: Iterable[str]) -> None:
        """Remove files clubsim owns here, as it wrote them (others are left alone: `is_clubsims`); then `parts/`
        if that left it empty."""
        for name in names:
            if name == MANIFEST or not self.is_clubsims(name):
                continue
            path = self.path / name
            if path.is_symlink() or path.is_file():
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
                except OSError as err:
                    raise OutputError(path, None, f"cannot remove: {os_reason(err)}") from None
        parts = self.path / PARTS
        if parts.is_dir() and not parts.is_symlink():
            try:
                parts.rmdir()
            except OSError:  # not empty: what remains there is not clubsim's
                pass

    def write_manifest(self, manifest: Mapping[str, Any]) -> Path:
        """Write manifest.json (with checksums when it is complete: `with_checksums`); its files are then
        clubsim's here."""
        if manifest.get("status", STATUS_COMPLETE) == STATUS_COMPLETE:  # each file hashed once (`_checksum`)
            checksums = listed_checksums(self.path, manifest, self._checksum)
        else:  # unfinished: it vouches for the listed files clubsim wrote, so that they stay clubsim's
            recorded = self.recorded()
            checksums = {name: recorded[name] for name in listed_files(manifest) if name != MANIFEST
                         and name in recorded}
        manifest = {**manifest, CHECKSUMS: checksums}
        write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        self.previous = manifest
        return self.path / MANIFEST

    def write_outputs(self, manifest: Mapping[str, Any], names: Iterable[str],
                      write: Callable[[OutputFolder], Mapping[str, Path]]) -> dict[str, Path]:
        """Replace the folder's output as every writer does: `names` checked free (none is someone else's
        file), the manifest marked `writing` (listing the earlier files and these, so all stay clubsim's),
        `write(self)` writes each file atomically (`write_text`, `write_with`) and returns {name: path},
        the earlier files not written again are removed, and the manifest comes last, `complete`, with
        each file's size and SHA-256. Returns {name: path}, the manifest included."""
        names = list(names)
        self.check_free([*names, MANIFEST])
        earlier = self.owned - {MANIFEST}
        self.write_manifest({**manifest, "status": STATUS_WRITING, "files": sorted({*earlier, *names, MANIFEST})})
        files = dict(write(self))
        self.remove(earlier - set(files))
        files[MANIFEST] = self.path / MANIFEST
        self.write_manifest({**manifest, "status": STATUS_COMPLETE, "files": sorted(files)})
        return files


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        module = sys.modules.get(distribution.lower())
        return getattr(module, "__version__", None)


def versions() -> dict[str, str]:
    """Versions of clubsim, its main dependencies and Python (without importing numba)."""
    from sim import __version__

    clubsim = _version("clubsim") or __version__ or "0+unknown"
    found = {name: _version(dist) or "unknown" for name, dist in
             (("mesa", "mesa"), ("numba", "numba"), ("numpy", "numpy"), ("pandas", "pandas"))}
    return {"clubsim": clubsim, **found, "python": platform.python_version()}


def command_text(command: str | Sequence[str] | None) -> str | None:
    """A command (a string or an argv list) as one shell-quoted line, for a manifest."""
    if command is None or isinstance(command, str):
        return command
    return shlex.join(str(part) for part in command)


def provenance(command: str | Sequence[str] | None) -> dict[str, Any]:
    """What every manifest records about how it was made: versions, command line, time (UTC, seconds)."""
    from sim.model.runner import RESULTS_FORMAT

    return {
        "versions": versions(),
        "results_format": RESULTS_FORMAT,
        "command": command_text(command),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def with_checksums(out_dir: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with `checksums`: the size and SHA-256 of each file it lists (but itself), when its
    status is complete (or it has none); an unfinished folder's files are not vouched for."""
    manifest = dict(manifest)
    if manifest.get("status", STATUS_COMPLETE) == STATUS_COMPLETE and "files" in manifest:
        manifest[CHECKSUMS] = listed_checksums(out_dir, manifest)
    return manifest


def listed_checksums(out_dir: Path, manifest: Mapping[str, Any],
                     checksum: Callable[[str], dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The size and SHA-256 of each file the manifest lists (but itself), by name; `checksum(name)` computes
    one (default: `file_checksum` of the file). A listed file that is not there gets none (a reader then
    refuses it as missing)."""
    folder = Path(out_dir)
    checksum = checksum or (lambda name: file_checksum(folder / name))
    return {name: checksum(name) for name in listed_files(manifest)
            if name != MANIFEST and (folder / name).is_file()}


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write `out_dir/manifest.json` (keys sorted, `with_checksums`) atomically: a reader never sees half a
    manifest. Write it last: it vouches for the files it lists."""
    manifest = with_checksums(out_dir, manifest)
    return write_text(Path(out_dir) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def save_figures(figures: Mapping[str, Figure], out_dir: Path, dpi: int = FIGURE_DPI) -> dict[str, Path]:
    """Write matplotlib figures as PNGs (no timestamps in the metadata, so the same figure gives the same bytes);
    returns {file name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures.items():
        path = out_dir / name
        fig.savefig(path, dpi=dpi, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 3})
        paths[name] = path
    return paths
