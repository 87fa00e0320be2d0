"""The edges, numpy and dicts, never torch: ``capture/`` (sources and capture threads) and ``feed/`` (events, the bus and its outputs, the WebSocket feed)."""
