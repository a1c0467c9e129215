#!/bin/sh
# Load benchmark: errata's gateway vs nginx and HAProxy as API gateways and nginx as a plain
# reverse proxy (see BENCHMARKS.md).
# A thin entry to bench/run.py (Python 3.11+, standard library only); options: --help.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bench: needs Python 3.11 or later as \`$py\` (set PYTHON=...)" >&2
    exit 1
fi
exec "$py" "$here/run.py" "$@"
