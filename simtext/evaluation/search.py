"""Exact nearest-neighbor search by cosine similarity that scans the documents in chunks.

Only a (queries, chunk_size + k) score matrix exists at any time, so a corpus of a
million documents needs no (queries, documents) matrix. Equal scores are ranked by
document index, where `torch.topk` alone would pick among them arbitrarily.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_CHUNK_SIZE = 50_000


def exact_search(
    query_embeddings: torch.Tensor,
    document_embeddings: torch.Tensor,
    k: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Find the `k` documents with the highest cosine similarity to each query.

    Returns `(scores, indices)`, both (queries, k), best first. Among equal scores the
    lower document index ranks first. `k` is capped at the number of documents.
    Scores are computed in float32 on the device of `query_embeddings`.

    NOTE: queries are not split into batches, so the score matrix takes
    queries x (chunk_size + k) x 4 bytes. Lower `chunk_size` for very many queries.
    """
    if k < 1:
        raise ValueError(f"k={k} is invalid; pass the number of documents to return per query (at least 1).")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} is invalid; pass the number of documents scored at once (at least 1).")

    queries = F.normalize(query_embeddings.float(), dim=-1)  # (queries, dim)
    # Kept in ascending document index, which `_top_k_columns` relies on to break ties.
    best_scores = queries.new_empty((len(queries), 0))  # (queries, kept)
    best_indices = torch.empty((len(queries), 0), dtype=torch.long, device=queries.device)

    for start in range(0, len(document_embeddings), chunk_size):
        chunk = document_embeddings[start : start + chunk_size].to(queries.device)
        chunk = F.normalize(chunk.float(), dim=-1)  # (chunk, dim)
        kept = best_scores.shape[1]

        # The kept documents precede the chunk's, so columns stay in document order.
        candidates = torch.cat([best_scores, queries @ chunk.T], dim=1)  # (queries, kept + chunk)
        columns = _top_k_columns(candidates, min(k, candidates.shape[1]))  # (queries, k)
        best_scores = candidates.gather(1, columns)
        chunk_indices = columns - kept + start
        if kept == 0:
            best_indices = chunk_indices
        else:
            kept_indices = best_indices.gather(1, columns.clamp(max=kept - 1))
            best_indices = torch.where(columns >= kept, chunk_indices, kept_indices)

    # A stable sort keeps ascending document index among equal scores.
    order = best_scores.argsort(dim=1, descending=True, stable=True)
    return best_scores.gather(1, order), best_indices.gather(1, order)


def _top_k_columns(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Return the columns of the `k` highest scores in each row, sorted ascending; ties go to lower columns."""
    values, columns = scores.topk(k, dim=1, sorted=False)  # (rows, k)
    threshold = values.min(dim=1, keepdim=True).values  # (rows, 1)
    tied_rows = ((scores >= threshold).sum(dim=1) > k).nonzero().squeeze(1)

    if len(tied_rows) > 0:
        # torch.topk picks arbitrarily among scores equal to the k-th one. In these rows, rank
        # by key instead: columns above the threshold first, then tied columns, lowest first.
        rows, row_threshold = scores[tied_rows], threshold[tied_rows]  # (tied, candidates), (tied, 1)
        width = scores.shape[1]
        position = torch.arange(width, device=scores.device)
        key = torch.where(rows == row_threshold, position + width, 2 * width)
        key = torch.where(rows > row_threshold, position, key)
        columns[tied_rows] = key.topk(k, dim=1, largest=False).indices

    return columns.sort(dim=1).values
