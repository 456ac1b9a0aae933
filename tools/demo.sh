#!/usr/bin/env bash
# `sudo make demo`: run the seed articles' StatefulSet for real on this host.
# On a fresh Debian 12 machine, as root: installs the Debian packages setlet
# needs, starts containerd if none runs, builds setlet and its busybox demo
# image, starts the daemon (unless one already serves its socket), imports
# the image, applies configs/examples/web.yaml and shows web-0, web-1 and
# web-2 becoming Ready, in that order.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: run as root (sudo make demo): setlet creates network namespaces and bridges" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive PATH="/usr/local/go/bin:${PATH}"

packages=(containerd runc containernetworking-plugins busybox-static iproute2 iptables ca-certificates)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "demo: installing ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# wait_for DESCRIPTION LOG COMMAND...: run COMMAND until it succeeds (30 s).
wait_for() {
	local what=$1 log=$2
	shift 2
	for _ in $(seq 1 300); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "demo: $what did not come up; see $log" >&2
	exit 1
}

CONTAINERD_SOCK=/run/containerd/containerd.sock
if ! ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
	echo "demo: starting containerd (log: /var/log/setlet-demo-containerd.log)"
	setsid nohup containerd >/var/log/setlet-demo-containerd.log 2>&1 </dev/null &
	wait_for containerd /var/log/setlet-demo-containerd.log ctr --address "$CONTAINERD_SOCK" version
fi

echo "demo: building setlet and the busybox image"
make --no-print-directory build
go run ./tools/mkimage -o bin/busybox.tar

SETLET_SOCK=/run/setlet/setlet.sock
if ! bin/setlet --socket "$SETLET_SOCK" version >/dev/null 2>&1; then
	echo "demo: starting the daemon (log: /var/log/setlet-demo.log)"
	# A session of its own: the daemon outlives this script and make.
	setsid nohup bin/setlet daemon --socket "$SETLET_SOCK" >/var/log/setlet-demo.log 2>&1 </dev/null &
	wait_for "the setlet daemon" /var/log/setlet-demo.log bin/setlet --socket "$SETLET_SOCK" version
fi

bin/setlet image import bin/busybox.tar
bin/setlet apply -f configs/examples/web.yaml
echo "demo: watching the pods start in order (ctrl-C to stop watching)"
# Show the watch until the three replicas are Running 1/1, then stop it.
# (A plain read loop: Debian's mawk would hold the lines back in its buffer.)
coproc WATCH { exec bin/setlet get pods -w; }
declare -A ready=()
while IFS= read -r line <&"${WATCH[0]}"; do
	echo "$line"
	read -r name readiness status _ <<<"$line"
	if [[ $readiness == 1/1 && $status == Running ]]; then
		ready[$name]=1
	fi
	((${#ready[@]} < 3)) || break
done
kill "$WATCH_PID" 2>/dev/null || true
echo
echo "demo: web-0 asks for web-1 by its stable DNS name:"
echo "+ bin/setlet exec web-0 -- wget -qO- http://web-1.nginx"
bin/setlet exec web-0 -- wget -qO- http://web-1.nginx
cat <<'NEXT'

demo: web-0, web-1 and web-2 are Ready. Try:
  sudo bin/setlet get pods -o wide
  sudo bin/setlet exec web-1 -- hostname
  sudo bin/setlet exec web-1 -- cat /www/index.html
  sudo bin/setlet exec web-0 -- nslookup web-2.nginx.set.local
  sudo bin/setlet get dns
  sudo bin/setlet delete pod web-1 && sudo bin/setlet get pods -w
  sudo bin/setlet get volumes -o wide
  sudo bin/setlet describe set web
  sudo bin/setlet logs web-0
The daemon keeps running; stop it with: sudo kill $(pgrep -f 'setlet daemon')
NEXT
