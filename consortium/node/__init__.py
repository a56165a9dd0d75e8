"""A node: one institution's configuration, key, database and ledger, opened together."""

from consortium.node.config import NodeConfig, NodeConfigError
from consortium.node.node import Node, init_node

__all__ = ["Node", "NodeConfig", "NodeConfigError", "init_node"]
