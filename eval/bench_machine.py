"""The machine line that every benchmark table in eval/ ends with."""

from __future__ import annotations

import os
import platform

import torch


def describe_machine() -> str:
    """Return the Markdown line naming the CPU architecture, core and thread counts, torch and Python versions."""
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}"
    )
