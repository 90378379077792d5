"""Orchestration: one capture through capture/ -> tcp/ -> tls/, on the engine chosen, in one or
more processes.

    analysis.py  analyse(path) -> Analysis: the library entry point; the Python reference pipeline
    engines.py   which engine follows the packets (the Rust core pcaptls._core, or Python)
    result.py    Analysis, what one capture held; merging the shares of a split capture
    forks.py     worker processes made with fork(), and what they inherit
    spill.py     rows made as connections finish, in sorted runs (on disk past a bound)
"""
