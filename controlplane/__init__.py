"""The gRPC control plane: GatewayService, DeviceRegistryService, health and reflection on the
data plane's event loop, and the client of a remote DeviceAuthService."""
