"""stats.py - the few statistics the reports use: median with min and max of
repeated runs, and nearest-rank percentiles of samples."""
import math


def summary(values):
    """{"median", "min", "max", "runs"} of the values, or None if there are none."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    mid = n // 2
    median = values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
    return {"median": median, "min": values[0], "max": values[-1], "runs": n}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
