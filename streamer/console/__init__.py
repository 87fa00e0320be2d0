"""The operator's console: a browser page on the feed's port, caption snapshots, newest frames.

The page (``static/``: plain HTML, CSS and ES modules, no build step, nothing from a CDN) is a feed
client like any other. The Python side only serves it and the pictures it shows:
:mod:`~streamer.console.snapshots` (a JPEG per caption, stored beside the event log),
:mod:`~streamer.console.newest` (each source's newest sampled frame, encoded when asked) and
:mod:`~streamer.console.routes` (the HTTP routes for both and for the page).
"""
