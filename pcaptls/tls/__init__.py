"""TLS: records and handshake messages parsed from reassembled byte streams (sans-IO)."""
