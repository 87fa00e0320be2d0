"""Past one machine: camera leases and fair share in NATS JetStream key-value buckets, kept by
one thread per worker. Sockets and dicts, never torch."""
