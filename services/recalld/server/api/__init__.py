"""The gRPC edge: converters, the error table, servicers and the server lifecycle."""
