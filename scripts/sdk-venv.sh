#!/usr/bin/env bash
# Installs the official Python SDK (b24pysdk, pinned) into target/sdk-venv for
# `make bench`, which runs the same scenarios through it. Without Python or the
# package registry the benchmark still runs, with the SDK's columns empty.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=target/sdk-venv
SDK_VERSION=1.3.2
if "$VENV/bin/python" -c "import b24pysdk, sys; sys.exit(b24pysdk.__version__ != '$SDK_VERSION')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet "b24pysdk==$SDK_VERSION" \
    || echo "warning: could not install b24pysdk $SDK_VERSION; the SDK's benchmark columns stay empty" >&2
exit 0
