#!/bin/sh
# Runs each fuzz target for DURATION (a Go duration, default 30s), one
# after the other, and exits non-zero if any found a failure. The seed
# corpora also run in plain `go test`; this explores beyond them. A failing
# input is left under PKG/testdata/fuzz/FuzzX/ for `go test` to replay.
# FUZZFLAGS adds go test flags, e.g. FUZZFLAGS=-parallel=1 on a busy machine.
set -u
duration=${1:-30s}
cd "$(dirname "$0")/.."
failed=""
for target in \
	./web/httpkit:FuzzDecodeJSON \
	./web/httpkit:FuzzCheckText \
	./slackapp:FuzzVerify \
	./slackapp:FuzzParsePayload \
	./workflow:FuzzParsePolicy \
	./masking:FuzzScanText \
	./masking:FuzzMaskJSON \
	./masking:FuzzMaskJSONFreeText; do
	pkg=${target%%:*}
	name=${target#*:}
	echo "== $name ($pkg) for $duration"
	# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" ${FUZZFLAGS:-} "$pkg" || failed="$failed $name"
done
if [ -n "$failed" ]; then
	echo "fuzzing found failures in:$failed" >&2
	exit 1
fi
