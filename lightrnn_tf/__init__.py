"""LightRNN language models in TensorFlow/Keras (Li et al., NIPS 2016)."""

from lightrnn_tf.errors import LightRNNError
from lightrnn_tf.table import WordTable

__version__ = "0.1.0"

__all__ = ["LightRNNError", "WordTable", "__version__"]
