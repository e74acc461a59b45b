"""Two CPU processes (gloo) against one: gathered negatives, sharded epochs, and failure handling."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

import simtext
from simtext.training import distributed
from simtext.training.objectives import InfoNCEObjective
from simtext.training.recipe import LossConfig, MemoryConfig

WORKER = Path(__file__).resolve().parent / "distributed_worker.py"

FIRST = {
    "anchor": ["the cat sat on the mat", "a dog", "the man plays the guitar in the park", "a woman eats", "the cat", "red", "a small dog runs"],
    "positive": ["a cat sits on a mat", "the dog runs", "a man is playing a guitar", "the woman is eating food", "cats", "the red one", "the small dog is running"],
    "negative": ["a horse", "the children swim in the water", "blue", "the man sits", "a big tree", "she reads", "the boy is cooking"],
}
SECOND = {
    "anchor": ["a boy reads a book", "the tree is green", "two men run", "a girl sings"],
    "positive": ["the boy is reading", "a green tree", "men are running on the road", "the girl is singing a song"],
    "negative": ["a cat sleeps", "the water is cold", "women walk", "the cat"],
}


def launch(arguments: list[str], processes: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """Start the worker under `accelerate launch` on CPU processes, with a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        # `--cpu` would start one process without an MPI hostfile; `--multi_gpu` starts torchrun, and
        # without CUDA the processes join over gloo on CPU.
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), str(WORKER), *arguments,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def assert_same_gradients(actual: dict, expected: dict) -> None:
    """Elementwise 1e-5 relative, with an absolute floor of 1e-5 times the largest gradient element of the model.

    Summing the two shards' gradients changes the order of float32 additions, so
    elements near zero (a key bias's gradient is zero in exact arithmetic) carry
    round-off far above 1e-5 of their own size.
    """
    assert actual.keys() == expected.keys()
    floor = 1e-5 * max(float(gradient.abs().max()) for gradient in expected.values())
    for name, gradient in expected.items():
        torch.testing.assert_close(actual[name], gradient, rtol=1e-5, atol=floor, msg=lambda text: f"{name}: {text}")


def single_process_reference(model, batches, options):
    """Run the same steps in this process on whole global batches."""
    options = dict(options)
    memory = options.pop("memory_size", None)
    objective = InfoNCEObjective(LossConfig(memory=MemoryConfig(memory) if memory else None))
    model.train()
    losses = []
    for number, batch in enumerate(batches, start=1):
        model.zero_grad()
        output = distributed.data_parallel_step(Accelerator(cpu=True), model, model, objective, batch, dict(options), True, number)
        losses.append(float(output.loss))
    gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters() if parameter.grad is not None}
    return losses, gradients, objective


def compare_two_processes_with_one(tmp_path, model_dir, batches, options):
    """Run the steps on 2 processes and in this one; losses, gradients and memory texts must agree."""
    (tmp_path / "batches.json").write_text(json.dumps(batches))
    completed = launch(["step", str(model_dir), str(tmp_path / "batches.json"), json.dumps(options), str(tmp_path / "out.pt")])
    assert completed.returncode == 0, completed.stderr[-3000:]
    gathered = torch.load(tmp_path / "out.pt")

    losses, gradients, objective = single_process_reference(simtext.load(str(model_dir)), batches, options)
    assert gathered["losses"] == pytest.approx(losses, rel=1e-5)
    assert_same_gradients(gathered["gradients"], gradients)
    if objective.memory is not None:
        assert gathered["memory"] == objective.memory.texts


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"chunk_size": 3}, id="direct"),
        pytest.param({"mini_batch_size": 3, "sort_by_length": True}, id="cached"),
        pytest.param({"mini_batch_size": 2, "sort_by_length": True, "memory_size": 16}, id="cached-memory"),
        pytest.param({"chunk_size": None, "memory_size": 16}, id="direct-memory"),
    ],
)
def test_two_processes_match_one(make_tiny_model, tmp_path, options):
    # Without dropout, the only difference between the runs is which process embeds which text.
    model = make_tiny_model(dropout=0.0)
    model_dir = simtext.save(model, tmp_path / "model")
    batches = [FIRST, SECOND] if "memory_size" in options else [FIRST]
    compare_two_processes_with_one(tmp_path, model_dir, batches, options)


def test_shard_with_one_example_leaves_other_process_empty(make_tiny_model, tmp_path):
    model_dir = simtext.save(make_tiny_model(dropout=0.0), tmp_path / "model")
    batches = [{name: values[:1] for name, values in FIRST.items()}]
    compare_two_processes_with_one(tmp_path, model_dir, batches, {"mini_batch_size": 2, "sort_by_length": True})


def test_epoch_shards_cover_training_set(workspace_2proc):
    tmp_path, data_dir, recipe, anchors = workspace_2proc
    completed = launch(["train", str(recipe), str(data_dir), str(tmp_path / "seen")])
    assert completed.returncode == 0, completed.stderr[-3000:]

    seen = [json.loads((tmp_path / f"seen.rank-{rank}.json").read_text()) for rank in range(2)]
    texts = [[text for batch in batches for text in batch] for batches in seen]
    assert len(texts[0]) + len(texts[1]) == len(anchors)
    assert sorted(texts[0] + texts[1]) == sorted(anchors)
    assert not set(texts[0]) & set(texts[1])
    # Each global batch is split in two nearly equal shards.
    assert all(abs(len(first) - len(second)) <= 1 for first, second in zip(*seen))
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_failing_process_stops_all(tmp_path):
    started = time.monotonic()
    completed = launch(["fail"], timeout=240)
    assert completed.returncode != 0
    assert "rank 1 fails on purpose" in completed.stderr
    assert time.monotonic() - started < 240


def test_shard_indices_split_evenly():
    indices = tuple(range(10, 17))
    shards = [distributed.shard_indices(indices, rank, 3) for rank in range(3)]
    assert shards == [(10, 11, 12), (13, 14), (15, 16)]
    assert distributed.shard_indices((5,), 1, 2) == ()


@pytest.fixture
def workspace_2proc(tmp_path, tiny_model):
    """A recipe over 30 paraphrase pairs with unique texts, batch size 4 per process, one epoch."""
    import yaml

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    anchors = [f"the {word} sits on the mat number {index}" for index, word in enumerate(["cat", "dog", "man"] * 10)]
    lines = ["anchor\tpositive"] + [f"{anchor}\t{anchor} today" for anchor in anchors]
    (data_dir / "pairs.tsv").write_text("\n".join(lines) + "\n")
    model_dir = simtext.save(tiny_model, tmp_path / "tiny")
    recipe = {
        "model": str(model_dir),
        "output_dir": str(tmp_path / "run"),
        "data": {"train": {"pairs": [{"path": "pairs.tsv", "columns": {"anchor": "anchor", "positive": "positive"}}]}},
        "training": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3, "log_every": 1},
        "evaluation": {"tasks": []},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return tmp_path, data_dir, path, anchors
