"""Capture files -> frames -> TCP segments.

:mod:`.files` opens files (plain or gzip) and is the only I/O in the pipeline's capture stage;
:mod:`.pcap` and :mod:`.pcapng` turn the byte stream into frames; :mod:`.decode` takes a frame's
link layer, IP (with tunnels) and TCP header off in one pass.
"""
