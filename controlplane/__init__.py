"""gRPC control plane (built in a later issue)."""
