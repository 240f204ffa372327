"""lambda-dispatcher: an AWS Lambda custom-runtime bootstrap that forwards each
invocation to a long-lived worker subprocess over length-prefixed msgpack frames.

The package keeps its import cost near zero: nothing here imports yaml, psutil,
json or http machinery, so that `python -m dispatcher run` starts fast.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
