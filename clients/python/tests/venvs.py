"""Virtual environments for the tests that need packages from PyPI (pip, the registry).

Each helper skips the test, with the reason, when what it needs is missing on this machine:
no venv module, no pip, or a package registry that cannot be reached. Any other failure of
pip fails the test, with pip's output.
"""
import os
import shutil
import subprocess

import pytest

from pfhost import GUARD, PYTHON

PROJECT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
_OFFLINE = ("NewConnectionError", "Temporary failure in name resolution",
            "Network is unreachable", "Connection refused", "ConnectTimeoutError",
            "Max retries exceeded", "No matching distribution found")


def create(path, python=PYTHON, system_site_packages=False):
    """Creates a venv at path with the interpreter the children run on; returns its python."""
    cmd = [python, "-m", "venv"]
    if system_site_packages:
        cmd.append("--system-site-packages")
    p = subprocess.run(cmd + [str(path)], capture_output=True, text=True, timeout=GUARD * 3)
    bin_python = os.path.join(str(path), "bin", "python")
    if p.returncode != 0 or not os.path.exists(bin_python):
        pytest.skip("%s -m venv is not available here: %s" % (python, p.stderr.strip()[-300:]))
    q = subprocess.run([bin_python, "-m", "pip", "--version"], capture_output=True, text=True)
    if q.returncode != 0:
        pytest.skip("the venv made by %s has no pip: %s" % (python, q.stderr.strip()[-300:]))
    return bin_python


def pip_install(python, *args):
    """Runs ``python -m pip install args``; skips the test if the registry is unreachable."""
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    p = subprocess.run([python, "-m", "pip", "install", "-q"] + list(args), capture_output=True,
                       text=True, env=env, timeout=GUARD * 10)
    if p.returncode != 0:
        out = p.stdout + p.stderr
        if any(word in out for word in _OFFLINE):
            pytest.skip("the package registry is unreachable: %s" % out.strip()[-300:])
        raise AssertionError("pip install %s failed:\n%s" % (" ".join(args), out))


def project_copy(dest):
    """Copies clients/python to dest (a build writes build/ and egg-info into its source)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache")
    shutil.copytree(PROJECT, str(dest), ignore=ignore)
    return str(dest)
