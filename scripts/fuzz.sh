#!/bin/sh
# Runs each fuzz target for DURATION (a Go duration, default 30s), one
# after the other. The seed corpora also run in plain `go test`; this
# explores beyond them. A failure leaves its input under
# PKG/testdata/fuzz/FuzzX/ for `go test` to replay, and stops the script.
# FUZZFLAGS adds go test flags, e.g. FUZZFLAGS=-parallel=1 on a busy machine.
set -u
duration=${1:-30s}
cd "$(dirname "$0")/.."
for target in \
	./web:FuzzDecodeJSON \
	./web:FuzzCheckText \
	./slackapp:FuzzVerify \
	./slackapp:FuzzParsePayload \
	./workflow:FuzzParsePolicy \
	./masking:FuzzScanText \
	./masking:FuzzMaskJSON \
	./masking:FuzzMaskJSONFreeText; do
	pkg=${target%%:*}
	name=${target#*:}
	echo "== $name ($pkg) for $duration"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" ${FUZZFLAGS:-} "$pkg"
done
