"""Nearest-neighbor search by cosine similarity with a FAISS index, for corpora whose embeddings do not fit as one matrix.

FAISS is an optional dependency (`pip install 'simtext[faiss]'`). The index is a flat
inner-product index over normalized embeddings, so its results are exact cosine
rankings. Unlike `exact_search`, FAISS orders equal scores as it likes.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

FAISS_MISSING = "Retrieval with search: faiss needs the faiss package. Install it with pip install 'simtext[faiss]' (or faiss-cpu), or use search: exact."


def faiss_search(
    query_embeddings: torch.Tensor,
    document_embeddings: torch.Tensor,
    k: int,
    chunk_size: int = 50_000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Find the `k` documents with the highest cosine similarity to each query with a FAISS `IndexFlatIP`.

    Documents are added to the index `chunk_size` at a time, so only one chunk is
    converted to float32 NumPy at once. Returns `(scores, indices)`, both (queries, k), best first.
    """
    try:
        import faiss
    except ImportError:
        raise ImportError(FAISS_MISSING) from None
    if k < 1:
        raise ValueError(f"k={k} is invalid; pass the number of documents to return per query (at least 1).")

    index = faiss.IndexFlatIP(document_embeddings.shape[1])
    for start in range(0, len(document_embeddings), chunk_size):
        chunk = F.normalize(document_embeddings[start : start + chunk_size].float(), dim=-1)  # (chunk, dim)
        index.add(np.ascontiguousarray(chunk.cpu().numpy()))

    queries = F.normalize(query_embeddings.float(), dim=-1).cpu().numpy()  # (queries, dim)
    scores, indices = index.search(np.ascontiguousarray(queries), min(k, len(document_embeddings)))
    logger.debug("FAISS searched %d documents for %d queries", index.ntotal, len(queries))
    return torch.from_numpy(scores), torch.from_numpy(indices)
