"""Sparkplug B: the payload definition (`sparkplug_b.proto`, generated `sparkplug_b_pb2`), a decoder,
a host-application connector and an edge-node simulator.

The generated module is built for the protobuf 7.x runtime (>= 7.35.1); regenerate it with the
command at the top of `sparkplug_b.proto`.
"""

from .decode import Metric, Payload, SparkplugDecodeError, decode_payload, encode_payload

__all__ = ["Metric", "Payload", "SparkplugDecodeError", "decode_payload", "encode_payload"]
