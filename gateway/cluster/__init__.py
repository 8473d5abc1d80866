"""Cluster mode: many gateway nodes as one, on NATS JetStream (``jt808 serve --nats-url``).

Nothing here runs, and ``nats`` is not imported, unless ``--nats-url`` is set: the embedded
single-node gateway stays the default. ``settings`` holds the parsers and checks of the cluster
settings (it imports no NATS); ``connection`` opens the client; ``directory`` is the session
directory (phone → node, a KV bucket whose entries expire with their node); ``registry`` the
cluster's device registry and auth codes; ``rpc`` the request/reply that routes a call to the node
holding the terminal; ``node`` ties them to one gateway process; ``workers`` runs several nodes on
one machine. docs/cluster.md describes the design.
"""
