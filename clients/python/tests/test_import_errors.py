"""What a worker learns when its interpreter cannot run the package: one clear last line,
not a traceback that ends deep in the package (``No module named 'msgpack'`` from
``_codec.py``)."""
import os
import subprocess

from pfhost import PYTHON, SRC


def test_missing_msgpack_names_the_package_and_how_to_install_it():
    # sys.modules["msgpack"] = None makes "import msgpack" fail, as without the package.
    p = subprocess.run(
        [PYTHON, "-c", "import sys; sys.modules['msgpack'] = None; import polyfork"],
        env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: polyfork needs the msgpack package (msgpack>=1.0), which ")
    assert "pip install msgpack" in last and "apt install python3-msgpack" in last
    assert "During handling" not in p.stderr, "one traceback, not a chain"
