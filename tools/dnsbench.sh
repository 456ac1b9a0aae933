#!/usr/bin/env bash
# tools/dnsbench.sh: setlet's DNS server against dnsmasq, end to end, with
# dnsperf (see tools/dnsbench/main.go; BENCHMARKS.md records the figures).
# Needs 2 CPUs, dnsperf, dnsmasq-base and taskset; run as root (dnsmasq).
# Arguments go to `dnsbench run`, e.g. -rounds 5 -time 10s -qps 5000.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:${PATH}"

missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
[[ -x /usr/sbin/dnsmasq ]] || missing+=(dnsmasq-base)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
	echo "dnsbench: missing ${missing[*]} (apt-get install -y ${missing[*]})" >&2
	exit 1
fi
if (($(nproc) < 2)); then
	echo "dnsbench: needs 2 CPUs (servers on CPU 0, dnsperf on CPU 1)" >&2
	exit 1
fi

mkdir -p bin
go build -trimpath -o bin/dnsbench ./tools/dnsbench
exec bin/dnsbench run "$@"
