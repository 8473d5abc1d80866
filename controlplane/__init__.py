"""The gRPC control plane: GatewayService (commands, streams, sessions), DeviceRegistryService,
the client of your DeviceAuthService, access control and the one map from errors to statuses.
It runs on the data plane's event loop (``controlplane.app``)."""

# Decide between the compiled and the pure-Python core before any module of this package is
# loaded: one of them (location_wire) is compiled with the core (see gateway.native).
import gateway as _gateway  # noqa: F401
