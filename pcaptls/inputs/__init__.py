"""Where inputs come from before any stage reads them: archives and Expressway diagnostic bundles.

    archive.py  streaming gzip and tar readers with caps (no extraction to disk)
    bundle.py   an Expressway diagnostic bundle -> its captures, logs and trust store
"""
