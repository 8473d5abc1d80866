"""JT/T 808 gateway: the sans-I/O protocol core (``gateway.protocol``) and, later, its I/O edge."""
