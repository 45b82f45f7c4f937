import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The test process imports the library too (for the codec tests); it must not take over the
# test runner's own stdin/stdout, which it would do under a polyfork host.
os.environ.pop("POLYFORK_PROTOCOL", None)
os.environ.pop("POLYFORK_CHANNEL_FDS", None)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "src")))
sys.path.insert(0, HERE)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def extras(tmp_path_factory):
    """A venv of the children's interpreter with numpy, mypy and gunicorn from PyPI.

    It sees the interpreter's own packages (msgpack), so the children run as they would
    there; returns the venv's directory. Skips when pip or the registry is unavailable.
    """
    import venvs

    path = tmp_path_factory.mktemp("extras-venv")
    python = venvs.create(path, system_site_packages=True)
    venvs.pip_install(python, "numpy", "mypy", "gunicorn")
    return str(path)
