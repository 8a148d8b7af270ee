"""Generated protobuf and gRPC code for proto/recalld/v1 (make proto). Do not edit."""
