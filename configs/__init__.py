"""The packaged YAML configurations and the one loader that turns YAML into dataclasses (``loader.py``)."""
