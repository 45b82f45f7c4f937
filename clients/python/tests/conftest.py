import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The test process imports the library too (for the codec tests); it must not take over the
# test runner's own stdin/stdout, which it would do under a polyfork host.
os.environ.pop("POLYFORK_PROTOCOL", None)
os.environ.pop("POLYFORK_CHANNEL_FDS", None)
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "src")))
sys.path.insert(0, HERE)
