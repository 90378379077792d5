"""The CLI's commands, one module each; :mod:`pcaptls.cli` assembles them into `pcaptls`."""
