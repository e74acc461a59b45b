"""Atomic training checkpoints in `checkpoints/step-K`, written with Accelerate's `save_state`.

Accelerate saves the optimizer, the scheduler, every process's random states
and the registered objects (model weights, data position, memory queue), but it
writes straight into the target folder, so a run killed mid-save would leave a
folder that looks complete. Here each checkpoint is written to a temporary
folder, marked complete, and renamed into place. Resume only looks at renamed
folders.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import Accelerator

logger = logging.getLogger(__name__)

MARKER = "checkpoint.json"
_NAME = re.compile(r"^step-(\d+)$")


@dataclass
class Progress:
    """The run's position and record: data position, counters, log history and the best evaluation so far."""

    epoch: int = 0
    batch_in_epoch: int = 0  # global batches of `epoch` already trained
    step: int = 0
    examples: int = 0
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)  # the best-model tracker's state

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "examples": self.examples,
            "history": self.history,
            "best": self.best,
        }

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)


class Checkpoints:
    """Save, find and load the checkpoints of one run directory, keeping the newest `keep`."""

    def __init__(self, folder: Path, accelerator: Accelerator, keep: int):
        self.folder = folder
        self.accelerator = accelerator
        self.keep = keep

    def save(self, step: int) -> Path:
        """Write `step-<step>` atomically on every process; the main process renames it and prunes old ones."""
        accelerator = self.accelerator
        target = self.folder / f"step-{step}"
        temporary = self.folder / f".step-{step}.tmp"
        if accelerator.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir(parents=True)
        accelerator.wait_for_everyone()

        # NOTE: every process writes its random state into this folder, so on several machines
        # the run directory must be on a file system that all of them share.
        accelerator.save_state(str(temporary))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (temporary / MARKER).write_text(json.dumps({"step": step}), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            temporary.rename(target)
            self._prune()
            logger.info("Saved checkpoint %s", target)
        accelerator.wait_for_everyone()
        return target

    def latest(self) -> Path | None:
        """Return the newest complete checkpoint, or None; temporary and unmarked folders are ignored."""
        complete = self._complete()
        return complete[-1] if complete else None

    def load(self, path: Path) -> None:
        """Restore everything `save` wrote, including this process's random states."""
        self.accelerator.load_state(str(path))
        logger.info("Resumed from checkpoint %s", path)

    def remove_incomplete(self) -> None:
        """Delete temporary folders that a killed run left behind (main process)."""
        if self.accelerator.is_main_process and self.folder.is_dir():
            for path in self.folder.glob(".step-*.tmp"):
                shutil.rmtree(path, ignore_errors=True)

    def _complete(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _NAME.match(path.name)
            if match and (path / MARKER).is_file():
                found.append((int(match.group(1)), path))
        return [path for _, path in sorted(found)]

    def _prune(self) -> None:
        for path in self._complete()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)
