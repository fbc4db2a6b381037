"""Static validation of a model package (a folder or a zip), safe extraction and content hashing.

Nothing here imports or executes the package: ``main.py`` is parsed with :mod:`ast`, ``model.toml`` with
:mod:`tomllib`, and files are only ever read as bytes. Each problem names the file and the line (0 when the
problem concerns the whole file).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
import stat
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from medcloud.sdk.api import InferType
from medcloud.sdk.manifest import Manifest, check_requirement, installed_modules, normalize, parse_manifest

ALLOWED_SUFFIXES = frozenset(
    {
        ".py",
        ".toml",
        ".json",
        ".txt",
        ".md",
        ".yaml",
        ".yml",
        ".keras",
        ".h5",
        ".npz",
        ".npy",
        ".onnx",
        ".pt",
        ".bin",
        ".csv",
        ".png",
    }
)
TEXT_SUFFIXES = frozenset({".py", ".toml", ".json", ".txt", ".md", ".yaml", ".yml", ".csv"})
NATIVE_SUFFIXES = frozenset({".so", ".dll", ".dylib", ".pyd", ".exe", ".o", ".a"})
NATIVE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable or shared library"),
    (b"\xfe\xed\xfa\xce", "a Mach-O binary"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O binary"),
    (b"\xce\xfa\xed\xfe", "a Mach-O binary"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O binary"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary"),
    (b"MZ", "a Windows PE executable or DLL"),
)
IGNORED_DIRS = frozenset({"__pycache__"})  # written by Python itself in a local folder; never extracted
MAIN = "main.py"
MANIFEST = "model.toml"
SDK_BASES = {"InferTask", "Application"}
# Bundled packages (shipped with the platform, trusted, run in-process) are thin main.py files over the
# platform's own model library: they alone may import medcloud.ai, and only from folders under it.
BUNDLED_ROOT = Path(__file__).resolve().parent.parent / "ai"
BUNDLED_IMPORTS = "medcloud.ai"


@dataclasses.dataclass(frozen=True)
class ValidationLimits:
    max_total_bytes: int = 1 << 30
    max_file_bytes: int = 512 << 20
    max_text_file_bytes: int = 2 << 20  # .py, .toml, .json ...
    max_files: int = 256
    max_ratio: int = 200  # uncompressed / compressed size of one zip member (zip bombs)
    ratio_min_bytes: int = 1 << 20  # the ratio is checked on members larger than this


@dataclasses.dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class PackageError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    type: InferType
    labels: tuple[str, ...]
    modalities: tuple[str, ...]
    line: int


@dataclasses.dataclass(frozen=True)
class PackageInfo:
    manifest: Manifest | None
    tasks: tuple[TaskSpec, ...]
    application: str | None
    files: tuple[str, ...]


# --- entries: the files of a folder or a zip, seen without following or extracting anything --------------------


@dataclasses.dataclass
class _Entry:
    name: str  # relative POSIX path inside the package
    size: int
    kind: str  # "file" | "dir" | "symlink" | "special"
    read: Callable[[int], bytes]  # up to n bytes (-1: all)
    compressed: int | None = None


def _zip_mode_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # Unix attributes
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return "special"
        if stat.S_ISDIR(mode):
            return "dir"
    return "dir" if info.filename.endswith("/") else "file"


def _zip_prefix(names: list[str]) -> str:
    """A single top folder to strip when the zip holds the package inside one folder (``mymodel/main.py``)."""
    if MAIN in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names if n.strip("/")}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/{MAIN}" in names:
            return top + "/"
    return ""


def _zip_name_problem(name: str) -> str | None:
    if "\x00" in name:
        return "a NUL byte in the name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path (entries must be relative to the package folder)"
    if "\\" in name:
        return "a backslash in the path (use '/')"
    parts = name.rstrip("/").split("/")
    if any(p == ".." for p in parts):
        return "path traversal ('..' leaves the package folder)"
    if any(p in ("", ".") for p in parts):
        return "an empty or '.' path component"
    return None


def _zip_entries(zf: zipfile.ZipFile, problems: list[Problem]) -> Iterator[_Entry]:
    infos = zf.infolist()
    prefix = _zip_prefix([i.filename for i in infos])
    seen: set[str] = set()
    for info in infos:
        raw = info.filename
        why = _zip_name_problem(raw)
        if why:
            problems.append(Problem(raw, 0, f"refused zip entry: {why}"))
            continue
        name = raw[len(prefix) :] if prefix and raw.startswith(prefix) else raw
        name = name.rstrip("/")
        if not name:
            continue
        if name in seen:
            problems.append(Problem(name, 0, "the zip holds this entry twice"))
            continue
        seen.add(name)
        kind = _zip_mode_kind(info)

        def read(n: int, info: zipfile.ZipInfo = info) -> bytes:
            with zf.open(info) as fh:
                return fh.read(n) if n >= 0 else fh.read()

        yield _Entry(name, info.file_size, kind, read, info.compress_size)


def _dir_entries(root: Path, problems: list[Problem]) -> Iterator[_Entry]:
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(dirs) + sorted(files):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                kind = "symlink"
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            else:
                kind = "special"

            def read(n: int, path: Path = path) -> bytes:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as fh:
                    return fh.read(n) if n >= 0 else fh.read()

            yield _Entry(rel, st.st_size, kind, read)


def _check_entries(entries: Iterator[_Entry], problems: list[Problem], limits: ValidationLimits) -> dict[str, _Entry]:
    """Per-file checks; returns the acceptable regular files by name."""
    files: dict[str, _Entry] = {}
    total = 0
    count = 0
    for e in entries:
        if e.kind == "symlink":
            problems.append(Problem(e.name, 0, "symbolic links are not allowed in a model package"))
            continue
        if e.kind == "special":
            problems.append(Problem(e.name, 0, "device files, FIFOs and sockets are not allowed in a model package"))
            continue
        if e.kind == "dir":
            if PurePosixPath(e.name).name in IGNORED_DIRS:
                problems.append(Problem(e.name, 0, "__pycache__ is not allowed in an uploaded package: remove it"))
            continue
        count += 1
        total += max(e.size, 0)
        suffix = PurePosixPath(e.name).suffix.lower()
        if suffix in NATIVE_SUFFIXES:
            problems.append(
                Problem(e.name, 0, f"native code ({suffix}) is not allowed: models may only ship Python and weights")
            )
            continue
        if suffix not in ALLOWED_SUFFIXES:
            allowed = " ".join(sorted(ALLOWED_SUFFIXES))
            problems.append(Problem(e.name, 0, f"file type {suffix or '(none)'!r} is not allowed (allowed: {allowed})"))
            continue
        cap = limits.max_text_file_bytes if suffix in TEXT_SUFFIXES else limits.max_file_bytes
        if e.size > cap:
            problems.append(
                Problem(e.name, 0, f"{e.size} bytes: more than the limit of {cap} bytes for a {suffix} file")
            )
            continue
        if (
            e.compressed is not None
            and e.size > limits.ratio_min_bytes
            and e.size > limits.max_ratio * max(e.compressed, 1)
        ):
            problems.append(
                Problem(
                    e.name,
                    0,
                    f"compression ratio {e.size // max(e.compressed, 1)}:1 exceeds {limits.max_ratio}:1 (zip bomb?)",
                )
            )
            continue
        try:
            head = e.read(4)
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            problems.append(Problem(e.name, 0, f"cannot be read: {exc}"))
            continue
        for magic, what in NATIVE_MAGIC:
            if head.startswith(magic):
                problems.append(
                    Problem(e.name, 0, f"the file is {what} (whatever its name): native code is not allowed")
                )
                break
        else:
            files[e.name] = e
    if count > limits.max_files:
        problems.append(Problem(".", 0, f"{count} files: more than the limit of {limits.max_files}"))
    if total > limits.max_total_bytes:
        problems.append(Problem(".", 0, f"{total} bytes in all: more than the limit of {limits.max_total_bytes}"))
    return files


# --- main.py -----------------------------------------------------------------------------------------------


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _class_assign(cls: ast.ClassDef, name: str) -> ast.Assign | ast.AnnAssign | None:
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return stmt
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == name
            and stmt.value
        ):
            return stmt
    return None


def _str_tuple(node: ast.AST) -> tuple[str, ...] | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


def _analyse_main(tree: ast.Module, problems: list[Problem]) -> tuple[list[TaskSpec], str | None, list[str], int]:
    """The InferTask classes, the Application's name, the task names it lists and its line."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    kinds: dict[str, str] = {}

    def kind_of(name: str, depth: int = 0) -> str | None:
        if name in kinds:
            return kinds[name]
        cls = classes.get(name)
        if cls is None or depth > 20:
            return None
        for base in cls.bases:
            b = _base_name(base)
            if b in SDK_BASES:
                kinds[name] = b
                return b
            if b in classes and b != name:
                k = kind_of(b, depth + 1)
                if k:
                    kinds[name] = k
                    return k
        return None

    for name in classes:
        kind_of(name)
    valid_types = {m.name: m for m in InferType}
    tasks: list[TaskSpec] = []
    for name, cls in classes.items():
        if kinds.get(name) != "InferTask":
            continue
        assign = _class_assign(cls, "type")
        itype: InferType | None = None
        if assign is None:
            problems.append(
                Problem(MAIN, cls.lineno, f"InferTask {name} declares no type (e.g. type = InferType.SEGMENTATION)")
            )
        else:
            value = assign.value
            if isinstance(value, ast.Attribute) and _base_name(value.value) == "InferType":
                if value.attr in valid_types:
                    itype = valid_types[value.attr]
                else:
                    problems.append(
                        Problem(
                            MAIN,
                            value.lineno,
                            f"InferType.{value.attr} is not an InferType (valid: {', '.join(valid_types)})",
                        )
                    )
            else:
                problems.append(
                    Problem(MAIN, assign.lineno, f"InferTask {name}: type must be written as InferType.<MEMBER>")
                )
        labels: tuple[str, ...] = ()
        la = _class_assign(cls, "labels")
        if la is None:
            if itype is not None and itype != InferType.PROCESSING:
                problems.append(
                    Problem(MAIN, cls.lineno, f"InferTask {name} declares no labels (a literal tuple of names)")
                )
        else:
            parsed = _str_tuple(la.value) if la.value is not None else None
            if parsed is None:
                problems.append(
                    Problem(
                        MAIN, la.lineno, f"InferTask {name}: labels must be a literal tuple/list of non-empty strings"
                    )
                )
            elif len(set(parsed)) != len(parsed):
                problems.append(Problem(MAIN, la.lineno, f"InferTask {name}: repeated labels {list(parsed)}"))
            else:
                labels = parsed
            if parsed == () and itype not in (None, InferType.PROCESSING):
                problems.append(
                    Problem(MAIN, la.lineno, f"InferTask {name}: a {itype.value} task needs at least one label")
                )
        modalities: tuple[str, ...] = ()
        ma = _class_assign(cls, "modalities")
        if ma is not None:
            parsed = _str_tuple(ma.value) if ma.value is not None else None
            if parsed is None:
                problems.append(
                    Problem(
                        MAIN,
                        ma.lineno,
                        f"InferTask {name}: modalities must be a literal tuple of strings such as ('MR',)",
                    )
                )
            else:
                modalities = parsed
        if itype is not None:
            tasks.append(TaskSpec(name, itype, labels, modalities, cls.lineno))
    apps = [cls for name, cls in classes.items() if kinds.get(name) == "Application"]
    if not apps:
        problems.append(Problem(MAIN, 0, "no class inheriting Application (exactly one is required)"))
        return tasks, None, [], 0
    for extra in apps[1:]:
        problems.append(
            Problem(
                MAIN,
                extra.lineno,
                f"a second Application ({extra.name}; first: {apps[0].name} line {apps[0].lineno}):"
                " exactly one is allowed",
            )
        )
    app = apps[0]
    run = next((s for s in app.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.name == "run"), None)
    if run is None:
        problems.append(Problem(MAIN, app.lineno, f"Application {app.name} has no run(self, series, context) method"))
    elif isinstance(run, ast.AsyncFunctionDef):
        problems.append(Problem(MAIN, run.lineno, "run must be a plain method, not async"))
    else:
        decos = [_base_name(d) for d in run.decorator_list]
        args = run.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        required_kw = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
        if "staticmethod" in decos or "classmethod" in decos:
            problems.append(Problem(MAIN, run.lineno, "run must be an instance method run(self, series, context)"))
        elif (
            len(positional) != 3 or args.vararg is not None or required_kw or (args.defaults and len(args.defaults) > 0)
        ):
            got = ", ".join(positional + (["*" + args.vararg.arg] if args.vararg else []) + required_kw)
            problems.append(
                Problem(MAIN, run.lineno, f"run must take exactly (self, series, context); it takes ({got})")
            )
    listed: list[str] = []
    ta = _class_assign(app, "tasks")
    if ta is None:
        problems.append(Problem(MAIN, app.lineno, f"Application {app.name} lists no tasks (tasks = [MyTask, ...])"))
    else:
        value = ta.value
        if not isinstance(value, ast.List | ast.Tuple) or not all(isinstance(e, ast.Name) for e in value.elts):
            problems.append(Problem(MAIN, ta.lineno, "tasks must be a literal list of InferTask class names"))
        else:
            task_names = {t.name for t in tasks}
            for e in value.elts:
                if e.id in task_names:  # type: ignore[attr-defined]
                    listed.append(e.id)  # type: ignore[attr-defined]
                elif kinds.get(e.id) != "InferTask":  # type: ignore[attr-defined]
                    problems.append(Problem(MAIN, e.lineno, f"{e.id} is not an InferTask class of main.py"))  # type: ignore[attr-defined]
            if not value.elts:
                problems.append(Problem(MAIN, ta.lineno, "tasks is empty: list at least one InferTask"))
    return tasks, app.name, listed, app.lineno


def _platform_module_allowed(module: str, bundled: bool) -> bool:
    """May a package import this ``medcloud`` module? ``medcloud.sdk`` always; ``medcloud.ai`` (the platform's
    model library) only for a bundled package."""
    allowed = ("medcloud.sdk",) + ((BUNDLED_IMPORTS,) if bundled else ())
    return any(module == a or module.startswith(a + ".") for a in allowed)


def _check_imports(
    name: str,
    tree: ast.Module,
    local: set[str],
    requirements: set[str],
    problems: list[Problem],
    bundled: bool = False,
) -> None:
    provided = installed_modules()
    stdlib = set(sys.stdlib_module_names)
    only = "only medcloud.sdk (and, for a bundled package, medcloud.ai) may" if bundled else "only medcloud.sdk may"
    for node in ast.walk(tree):
        modules: list[tuple[str, int]] = []
        if isinstance(node, ast.Import):
            modules = [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "medcloud":
                if any(not _platform_module_allowed(f"medcloud.{a.name}", bundled) for a in node.names):
                    problems.append(Problem(name, node.lineno, f"{only} be imported from the platform"))
                continue
            modules = [(node.module, node.lineno)]
        for module, line in modules:
            top = module.split(".", 1)[0]
            if top == "medcloud":
                if not _platform_module_allowed(module, bundled):
                    hint = (
                        ""
                        if bundled or not (module == BUNDLED_IMPORTS or module.startswith(BUNDLED_IMPORTS + "."))
                        else " (medcloud.ai is for the packages bundled with the platform, not for uploads)"
                    )
                    problems.append(Problem(name, line, f"import {module}: {only} be imported from the platform{hint}"))
                continue
            if top in stdlib or top in local or top == "__future__":
                continue
            dists = provided.get(top)
            if not dists:
                problems.append(
                    Problem(
                        name,
                        line,
                        f"import {top}: no package of the platform's environment provides it"
                        " (nothing is installed for a model)",
                    )
                )
            elif not dists & requirements:
                problems.append(
                    Problem(
                        name,
                        line,
                        f"import {top}: declare its distribution ({' or '.join(sorted(dists))})"
                        " in model.toml requirements",
                    )
                )


def _requirement_line(text: str, dist: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if f'"{dist}"' in line or f"'{dist}'" in line:
            return i
    return 0


def _inspect(files: dict[str, _Entry], problems: list[Problem], bundled: bool = False) -> PackageInfo:
    manifest: Manifest | None = None
    requirements: set[str] = set()
    if MANIFEST not in files:
        problems.append(Problem(MANIFEST, 0, "model.toml is missing (sdk_version, name, version, tasks, requirements)"))
        manifest_text = ""
    else:
        manifest_text = files[MANIFEST].read(-1).decode("utf-8", "replace")
        manifest, mproblems = parse_manifest(manifest_text)
        problems.extend(Problem(MANIFEST, line, msg) for line, msg in mproblems)
        if manifest:
            for dist in manifest.requirements:
                why = check_requirement(dist)
                if why:
                    problems.append(Problem(MANIFEST, _requirement_line(manifest_text, dist), why))
                else:
                    requirements.add(normalize(dist))
    tasks: list[TaskSpec] = []
    app_name: str | None = None
    local = {PurePosixPath(n).parts[0].removesuffix(".py") for n in files}
    for name, entry in sorted(files.items()):
        if not name.endswith(".py"):
            continue
        try:
            source = entry.read(-1).decode("utf-8")
            tree = ast.parse(source, filename=name)
        except UnicodeDecodeError:
            problems.append(Problem(name, 0, "not UTF-8 text"))
            continue
        except SyntaxError as exc:
            problems.append(Problem(name, exc.lineno or 0, f"syntax error: {exc.msg}"))
            continue
        _check_imports(name, tree, local, requirements, problems, bundled)
        if name == MAIN:
            tasks, app_name, listed, app_line = _analyse_main(tree, problems)
            if manifest is not None and app_name:
                tline = next(
                    (i for i, ln in enumerate(manifest_text.splitlines(), 1) if ln.strip().startswith("tasks")), 0
                )
                if set(manifest.tasks) != set(listed) and manifest.tasks:
                    problems.append(
                        Problem(
                            MANIFEST,
                            tline,
                            f"tasks {sorted(manifest.tasks)} do not match the tasks of {app_name}"
                            f" in main.py {sorted(listed)}",
                        )
                    )
    if MAIN not in files:
        problems.append(Problem(MAIN, 0, "main.py is missing (the Application and its InferTasks)"))
    return PackageInfo(manifest, tuple(tasks), app_name, tuple(sorted(files)))


def is_bundled_location(path: str | os.PathLike) -> bool:
    """Is ``path`` a folder inside the platform's own model library (``medcloud/ai/``), i.e. shipped with it?"""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    return BUNDLED_ROOT in path.resolve().parents


def inspect_package(
    path: str | os.PathLike, limits: ValidationLimits | None = None, *, bundled: bool = False
) -> tuple[PackageInfo, list[Problem]]:
    """Validate a package folder or zip and describe it (manifest, tasks) without importing it.

    ``bundled=True`` is for the packages shipped with the platform, run in-process and never uploaded: they may
    also import ``medcloud.ai``; every other check is the same as for an upload. It is accepted for a folder under
    ``medcloud/ai/`` and for a zip — the platform's stored copy of a version it zipped from such a folder, which it
    vouches for (``AIModel.bundled``); a folder anywhere else (an extracted upload) is refused. Upload paths never
    pass it."""
    limits = limits or ValidationLimits()
    path = Path(path)
    problems: list[Problem] = []
    if path.is_symlink():
        return PackageInfo(None, (), None, ()), [Problem(path.name, 0, "the package itself is a symbolic link")]
    if bundled and path.is_dir() and not is_bundled_location(path):
        return PackageInfo(None, (), None, ()), [
            Problem(
                path.name,
                0,
                f"bundled packages are folders shipped with the platform under {BUNDLED_ROOT};"
                " this one is not (validate it as an upload, without bundled)",
            )
        ]
    if path.is_dir():
        files = _check_entries(_dir_entries(path, problems), problems, limits)
        info = _inspect(files, problems, bundled)
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                files = _check_entries(_zip_entries(zf, problems), problems, limits)
                info = _inspect(files, problems, bundled)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
            return PackageInfo(None, (), None, ()), [Problem(path.name, 0, f"not a readable zip: {exc}")]
    else:
        return PackageInfo(None, (), None, ()), [Problem(path.name, 0, "not a folder or a zip file")]
    return info, sorted(set(problems))


def validate_package(
    path: str | os.PathLike, limits: ValidationLimits | None = None, *, bundled: bool = False
) -> list[Problem]:
    """The problems of a package folder or zip (empty when it is acceptable). Never imports or executes it.
    ``bundled``: see :func:`inspect_package`."""
    return inspect_package(path, limits, bundled=bundled)[1]


def extract_package(
    zip_path: str | os.PathLike, dest: str | os.PathLike, limits: ValidationLimits | None = None
) -> Path:
    """Extract a package zip into ``dest`` (created; must not exist or be empty) after the per-entry checks:
    no traversal, no absolute path, no symlink or device, allowed types only, no native binary, sizes,
    file count and compression ratio bounded (also while writing: the zip headers may lie). Files are written
    0644, folders 0755. Raises :class:`PackageError` and leaves nothing behind on any problem."""
    import shutil

    limits = limits or ValidationLimits()
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise PackageError([Problem(str(dest), 0, "the destination folder is not empty")])
    problems: list[Problem] = []
    created = not dest.exists()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            files = _check_entries(_zip_entries(zf, problems), problems, limits)
            if problems:
                raise PackageError(sorted(set(problems)))
            dest.mkdir(mode=0o755, parents=True, exist_ok=True)
            root = dest.resolve()
            written = 0
            prefix = _zip_prefix([i.filename for i in zf.infolist()])
            for info in zf.infolist():
                name = info.filename[len(prefix) :] if prefix and info.filename.startswith(prefix) else info.filename
                if name not in files:
                    continue
                target = (root / name).resolve()
                if root not in target.parents:
                    raise PackageError([Problem(name, 0, "path traversal")])
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                size = 0
                cap = min(info.file_size, limits.max_file_bytes)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                with zf.open(info) as src, os.fdopen(fd, "wb") as out:
                    while chunk := src.read(1 << 20):
                        size += len(chunk)
                        written += len(chunk)
                        if size > cap or written > limits.max_total_bytes:
                            raise PackageError(
                                [Problem(name, 0, "more data than the zip header declares or than the limits allow")]
                            )
                        out.write(chunk)
                os.chmod(target, 0o644)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise PackageError([Problem(Path(zip_path).name, 0, f"not a readable zip: {exc}")]) from None
    except PackageError:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
        raise
    return dest


def package_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a package: of the zip's bytes, or for a folder of its files (sorted relative paths, sizes and
    contents; ``__pycache__`` left out), so that the same files always give the same hash."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    entries = []
    for dirpath, dirs, files in os.walk(path, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            entries.append((p.relative_to(path).as_posix(), p))
    h.update(b"medcloud-package-v1\0")
    for rel, p in sorted(entries):
        fh_hash = hashlib.sha256()
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                fh_hash.update(chunk)
        h.update(rel.encode() + b"\0" + str(p.stat().st_size).encode() + b"\0" + fh_hash.digest())
    return h.hexdigest()
