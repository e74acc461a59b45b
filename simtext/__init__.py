"""simtext: fine-tune Hugging Face text encoders into sentence-embedding models, and evaluate them."""

from simtext.models import DEFAULT_MODEL, load, save

__version__ = "0.1.0"

__all__ = ["DEFAULT_MODEL", "__version__", "load", "save"]
