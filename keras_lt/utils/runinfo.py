"""What a run records about where it ran: versions, machine, memory."""

import os
import platform
import resource

import keras

from keras_lt.version import __version__


def peak_rss_mb():
    """Peak resident memory of this process in MiB (``ru_maxrss``; KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if platform.system() != "Darwin" else kib / 2**20


def run_info():
    """Versions and machine facts recorded in checkpoints and reports.

    >>> sorted(run_info())[:3]
    ['backend', 'cpu_count', 'keras']
    """
    return {"keras_lt": __version__, "keras": keras.__version__,
            "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}
