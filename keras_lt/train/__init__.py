"""Training internals: the run checkpoint (atomic commit, verification, mirroring)."""
