"""The PaddlePaddle backend (dygraph). Importing this package imports paddle.

Install with ``pip install 'blockspec[paddle]'`` (the CPU wheel; a CUDA wheel
from Paddle's own index adds the GPU clauses).
"""

from conformance.backends.paddle._adapter import PaddleBackend

__all__ = ["PaddleBackend"]
