"""Encode the texts of all evaluation tasks of a run, each distinct text once per model.

sentence-transformers' evaluators each encode their own texts, so a sentence used by
three tasks is encoded three times. Here every task first registers the texts it
needs, then one pass encodes the distinct ones, longest first, under one progress bar.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from sentence_transformers import SentenceTransformer
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

# Roles name the encode method a task uses: `model.encode`, `encode_query` or `encode_document`.
ROLES = ("text", "query", "document")
# With `show_progress_bar=None`, a pass over at least this many distinct texts shows a progress bar.
PROGRESS_BAR_MIN_TEXTS = 1_000
# Texts handed to one `encode` call; each call shows no bar of its own.
ENCODE_CALL_TEXTS = 2_048


class EmbeddingCache:
    """Embeddings of one model, keyed by role and text, filled by `encode_pending`.

    The roles `query` and `document` map to `model.encode_query` and `model.encode_document`.
    When the model has no prompts and no Router module, the three roles give the same
    embedding, so they share one key and a text is encoded once whatever its role.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        token_budget: int | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid; pass the number of texts encoded at once (at least 1).")
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget={token_budget} is invalid; pass the padded tokens per batch (at least 1) or None.")
        self.model = model
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.show_progress_bar = show_progress_bar
        self.roles_differ = _roles_differ(model)
        self._pending: dict[tuple[str, str], None] = {}
        self._rows: dict[tuple[str, str], int] = {}
        self._chunks: list[torch.Tensor] = []
        self.encoded_count = 0

    def key(self, role: str, text: str) -> tuple[str, str]:
        if role not in ROLES:
            raise ValueError(f"Unknown encoding role {role!r}; use one of {', '.join(ROLES)}.")
        return (role if self.roles_differ else "text", text)

    def add(self, role: str, texts: Sequence[str]) -> None:
        """Register `texts` for the next `encode_pending`; texts already encoded or registered are skipped."""
        for text in texts:
            key = self.key(role, text)
            if key not in self._rows:
                self._pending[key] = None

    def encode_pending(self, description: str = "encoding") -> None:
        """Encode every registered text not yet encoded, longest first, under one progress bar."""
        pending = sorted(self._pending, key=lambda key: len(key[1]), reverse=True)
        self._pending.clear()
        if not pending:
            return
        show = self.show_progress_bar
        if show is None:
            show = len(pending) >= PROGRESS_BAR_MIN_TEXTS
        progress = tqdm(total=len(pending), desc=description, unit="text", disable=not show)
        try:
            for role in dict.fromkeys(role for role, _ in pending):
                keys = [key for key in pending if key[0] == role]
                for chunk, batch_size in self._calls(keys):
                    self._store(chunk, self._encode(role, [text for _, text in chunk], batch_size))
                    progress.update(len(chunk))
        finally:
            progress.close()

    def get(self, role: str, texts: Sequence[str]) -> torch.Tensor:
        """Return the (texts, dim) embeddings of `texts`, encoding any that were not registered first."""
        self.add(role, texts)
        self.encode_pending()
        table = torch.cat(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [table]
        rows = torch.tensor([self._rows[self.key(role, text)] for text in texts], device=table.device)
        return table[rows]  # (texts, dim)

    def _calls(self, keys: list[tuple[str, str]]) -> list[tuple[list[tuple[str, str]], int]]:
        """Split `keys` into `encode` calls, each with its batch size.

        Without a token budget, calls take `ENCODE_CALL_TEXTS` texts at `batch_size`.
        With one, the texts are sorted by token count and each call is one batch whose
        text count times its longest text's token count stays within the budget, so
        short texts go in large batches and long texts in small ones.
        """
        if self.token_budget is None:
            return [(keys[start : start + ENCODE_CALL_TEXTS], self.batch_size) for start in range(0, len(keys), ENCODE_CALL_TEXTS)]

        encoded = self.model.tokenizer([text for _, text in keys], truncation=True, max_length=self.model.max_seq_length)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        order = sorted(range(len(keys)), key=lambda index: -lengths[index])
        calls: list[tuple[list[tuple[str, str]], int]] = []
        batch: list[tuple[str, str]] = []
        longest = 0
        for index in order:
            longest = longest or lengths[index]
            if batch and (len(batch) + 1) * longest > self.token_budget:
                calls.append((batch, len(batch)))
                batch, longest = [], lengths[index]
            batch.append(keys[index])
        calls.append((batch, len(batch)))
        return calls

    def _encode(self, role: str, texts: list[str], batch_size: int) -> torch.Tensor:
        encode = {"text": self.model.encode, "query": self.model.encode_query, "document": self.model.encode_document}[role]
        self.encoded_count += len(texts)
        return encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)

    def _store(self, keys: list[tuple[str, str]], embeddings: torch.Tensor) -> None:
        offset = sum(len(chunk) for chunk in self._chunks)
        for index, key in enumerate(keys):
            self._rows[key] = offset + index
        self._chunks.append(embeddings)


def _roles_differ(model: SentenceTransformer) -> bool:
    prompts = getattr(model, "prompts", None) or {}
    if any(prompts.values()) or getattr(model, "default_prompt_name", None):
        return True
    return any(type(module).__name__ == "Router" for module in model.modules())


def encode_texts(
    encode_model: SentenceTransformer,
    role: str,
    texts: Sequence[str],
    batch_size: int,
    show_progress_bar: bool | None = None,
) -> torch.Tensor:
    """Encode `texts` in `role` with a fresh cache and return the (texts, dim) embeddings, duplicates encoded once."""
    cache = EmbeddingCache(encode_model, batch_size, show_progress_bar)
    cache.add(role, texts)
    cache.encode_pending()
    return cache.get(role, texts)
