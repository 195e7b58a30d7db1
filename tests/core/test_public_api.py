import subprocess
import sys
import types

import haraka_di

PROMISED = {
    "Service",
    "Orchestrator",
    "Runtime",
    "LifecycleState",
    "ServiceState",
    "HarakaError",
    "CircularDependencyError",
    "UnknownDependencyError",
    "DuplicateServiceError",
    "UnknownServiceError",
    "StartupError",
    "ShutdownError",
    "ReadinessTimeoutError",
}


def test_all_lists_every_promised_name_and_each_resolves() -> None:
    assert set(haraka_di.__all__) >= PROMISED
    assert sorted(haraka_di.__all__) == haraka_di.__all__
    for name in haraka_di.__all__:
        assert getattr(haraka_di, name) is not None


def test_exported_names_are_all_public_objects_of_the_package() -> None:
    public = {
        n
        for n, v in vars(haraka_di).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(haraka_di.__all__)


def test_error_hierarchy_keeps_the_promised_bases() -> None:
    for name in (
        "CircularDependencyError",
        "UnknownDependencyError",
        "DuplicateServiceError",
        "StartupError",
        "ShutdownError",
    ):
        cls = getattr(haraka_di, name)
        assert issubclass(cls, haraka_di.HarakaError)
        assert issubclass(cls, RuntimeError)
    assert issubclass(haraka_di.UnknownServiceError, LookupError)
    assert issubclass(haraka_di.ReadinessTimeoutError, TimeoutError)
    assert issubclass(haraka_di.ShutdownError, ExceptionGroup)


def test_importing_haraka_di_does_not_import_fastapi_or_uvicorn() -> None:
    code = (
        "import sys, haraka_di\n"
        "bad = [m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("haraka_di").joinpath("py.typed").is_file()


def test_public_names_say_the_package_they_are_imported_from() -> None:
    for name in haraka_di.__all__:
        assert getattr(haraka_di, name).__module__ == "haraka_di", name
