"""Generated protobuf and gRPC code (services.protogen). Do not edit."""
