"""Federation: the nodes of a consortium witnessing, replicating and checking each other."""
