"""The edge: gRPC servicers, CLI, settings and the composition root."""
