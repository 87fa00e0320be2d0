"""Capture: sources (files, RTSP/HTTP streams, webcams), the capture thread and its buffer
policies, reconnects, and several sources merged for one pipeline thread. Numpy frames, never
torch."""
