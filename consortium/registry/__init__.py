"""The registry: member institutions, the node's settings, and datasets."""
