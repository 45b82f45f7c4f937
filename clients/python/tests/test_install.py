"""Installing the package from outside the repository, as the README's Install section says."""
import glob
import os
import subprocess

import pytest

import venvs
from pfhost import GUARD, Child

WORKER = '''\
import polyfork

@polyfork.handle("add")
def add(a, b):
    return a + b

@polyfork.handle("where")
def where():
    return [polyfork.__file__, polyfork.__version__]

polyfork.run()
'''


def serve_one_call(python, tmp_path):
    worker = tmp_path / "project" / "worker.py"
    worker.parent.mkdir(exist_ok=True)
    worker.write_text(WORKER)
    with Child(str(worker), python=python, library_path=False) as c:
        assert c.expect_ready()["lib"] == "polyfork-python/0.2.0"
        assert c.call("add", 40, 2) == 42
        where, version = c.call("where")
        c.close_stdin()
        assert c.wait() == 0
    return where, version


@pytest.mark.parametrize("how", ["path", "wheel"])
def test_pip_install_into_a_fresh_venv(how, tmp_path):
    python = venvs.create(tmp_path / "venv")  # no system site packages: msgpack from PyPI
    src = venvs.project_copy(tmp_path / "polyfork-src")
    if how == "path":
        venvs.pip_install(python, src)
    else:
        p = subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                            str(tmp_path / "dist"), src], capture_output=True, text=True,
                           timeout=GUARD * 10)
        if p.returncode != 0 and any(w in p.stdout + p.stderr for w in venvs._OFFLINE):
            pytest.skip("the package registry is unreachable (setuptools for the build)")
        assert p.returncode == 0, p.stdout + p.stderr
        wheels = glob.glob(str(tmp_path / "dist" / "polyfork-0.2.0-*.whl"))
        assert len(wheels) == 1, os.listdir(tmp_path / "dist")
        venvs.pip_install(python, wheels[0])
    where, version = serve_one_call(python, tmp_path)
    assert where.startswith(str(tmp_path / "venv")), where  # the installed copy, not src/
    assert version == "0.2.0"
    typed = glob.glob(str(tmp_path / "venv" / "lib" / "python*" / "site-packages" / "polyfork"
                          / "py.typed"))
    assert typed, "py.typed is not installed"
