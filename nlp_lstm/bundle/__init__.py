"""Model bundles: a trained model with its config, tokenizers or vocabularies
and metadata, in a folder that loads without the training corpus."""

from nlp_lstm.bundle.files import BundleError, is_bundle, read_bundle, write_bundle
from nlp_lstm.bundle.models import TaggerBundle, TranslatorBundle, load_bundle

__all__ = [
    "BundleError",
    "TaggerBundle",
    "TranslatorBundle",
    "is_bundle",
    "load_bundle",
    "read_bundle",
    "write_bundle",
]
