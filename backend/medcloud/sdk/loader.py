"""Import a package's ``main.py`` and find its Application (in a sandbox child or, for trusted code, in-process)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from medcloud.sdk.api import Application, InferTask


class LoadError(RuntimeError):
    pass


def import_main(package_dir: str | Path, module_name: str = "medcloud_model_main") -> ModuleType:
    package_dir = Path(package_dir).resolve()
    main = package_dir / "main.py"
    spec = importlib.util.spec_from_file_location(module_name, main)
    if spec is None or spec.loader is None:
        raise LoadError(f"{main}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    previous = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # nothing written into the package folder
    sys.path.insert(0, str(package_dir))  # helper modules beside main.py
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


def find_application(module: ModuleType) -> type[Application]:
    apps = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Application)
        and obj is not Application
        and obj.__module__ == module.__name__
    ]
    if len(apps) != 1:
        raise LoadError(f"main.py must define exactly one Application subclass, found {len(apps)}")
    app = apps[0]
    for task in app.tasks:
        if not (isinstance(task, type) and issubclass(task, InferTask)):
            raise LoadError(f"{app.__name__}.tasks holds {task!r}, which is not an InferTask class")
    return app


def load_application(package_dir: str | Path) -> Application:
    return find_application(import_main(package_dir))()
