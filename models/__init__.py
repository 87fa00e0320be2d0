"""Every network and its weight loading, one network per file (``registry.py`` names them); tensors and arrays, never sockets or threads."""
