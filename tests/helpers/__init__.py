"""What the tests share: capture writers, the tshark oracle, certificate and hostile-input makers.

    paths.py       where the lab captures and the public corpus are (never copied)
    pcapgen.py     pcap/pcapng writers and TCP/TLS packet builders for crafted captures
    craft.py       hostile captures: floods, broken streams, oversized records
    certgen.py     certificates and chains made with `cryptography`, checked against `openssl verify`
    quirkgen.py    non-conforming certificates (DER edited by hand) OpenSSL still reads
    loopback.py    chains served by real OpenSSL servers on loopback, captured with tcpdump
    oracle.py      tshark (the dissection oracle) run on a capture, its TLS connections
    crosscheck.py  pcaptls against tshark, connection by connection
    variants.py    cut, snapped and byte-swapped variants of a capture (differential tests)
"""
