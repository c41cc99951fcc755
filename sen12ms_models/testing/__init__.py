"""What tests, benchmarks and examples share: synthetic SEN12MS trees and a local Hub server.

- ``synthetic``: SEN12MS trees of real GeoTIFFs with known class mixtures and a learnable task;
- ``hub_server``: a server speaking the Hub's resolve protocol on 127.0.0.1 (``HF_ENDPOINT``);
- ``hub_env``: pointing an imported huggingface_hub at it, offline or with short timeouts;
- ``published``: random weights served from it with a manifest that pins them.

Nothing here is imported by the library itself.
"""
