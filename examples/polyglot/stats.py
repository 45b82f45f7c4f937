"""The statistics stage of examples/polyglot: numbers in, a summary out, computed with numpy.

The handler returns numpy values as they are (numpy.float64, numpy.int64, arrays): the
polyfork client converts them (a scalar to its Python value, an array to a list).
"""
import numpy as np

import polyfork


@polyfork.handle("describe")
def describe(values: list[float]) -> dict[str, object]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no values to describe")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"values[{bad[0]}] is {a[bad[0]]}: only finite numbers can be described")
    counts, edges = np.histogram(a, bins=min(8, a.size))
    return {
        "n": a.size,
        "mean": a.mean(),
        "std": a.std(ddof=1) if a.size > 1 else np.float64(0),
        "min": a.min(),
        "median": np.median(a),
        "p90": np.percentile(a, 90),
        "max": a.max(),
        "histogram": {"counts": counts, "edges": edges},
        "numpy": np.__version__,
    }


polyfork.run()
