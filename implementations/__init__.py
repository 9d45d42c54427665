"""The nine tutorial implementations of "Learning PyTorch with Examples", one small file each."""
