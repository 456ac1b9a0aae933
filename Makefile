# setlet build, test and lint targets. `make test` is the test command CI
# runs (through .ci/run); `make lint` must be clean before every commit.

# Go from PATH, else Debian's /usr/local/go: sudo's secure_path drops it.
GO          ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN         := bin/setlet
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Packages whose statement coverage must stay at or above COVER_MIN percent.
COVER_PKGS  := ./configs ./storage ./daemon
COVER_MIN   := 80
BENCH_COUNT ?= 6

.PHONY: all build test cover lint bench fuzz demo install clean

all: lint test

build:
	$(GO) build -trimpath -o $(BIN) .

test: build
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory cover

# cover fails when configs, storage or the planner drops below COVER_MIN
# percent of statements covered (tools/cover.awk).
cover:
	@mkdir -p bin
	@$(GO) test -count=1 -coverprofile=bin/cover.out $(COVER_PKGS) > /dev/null
	@awk -v min=$(COVER_MIN) -f tools/cover.awk bin/cover.out

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# bench runs the Go benchmarks (the end-to-end ones need root), then the
# DNS server against dnsmasq with dnsperf (tools/dnsbench.sh; needs dnsperf
# and dnsmasq-base); BENCHMARKS.md says how each figure was made.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 60m ./...
	./tools/dnsbench.sh -rounds 5 -time 10s

# fuzz runs each fuzz target for FUZZTIME (the seed corpus also runs in `make test`).
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./configs -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./dns -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

# demo runs the seed articles' StatefulSet on this host (as root): see tools/demo.sh.
demo:
	./tools/demo.sh

# install puts the binary, the systemd unit and (unless one exists) the
# default config in place, under DESTDIR when packaging; then
# `systemctl daemon-reload && systemctl enable --now setlet`.
DESTDIR ?=
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)/usr/local/bin/setlet
	install -D -m 0644 configs/systemd/setlet.service $(DESTDIR)/etc/systemd/system/setlet.service
	@if [ -e $(DESTDIR)/etc/setlet/config.yaml ]; then \
		echo "keeping $(DESTDIR)/etc/setlet/config.yaml"; \
	else \
		install -D -m 0644 configs/systemd/config.yaml $(DESTDIR)/etc/setlet/config.yaml; \
	fi

clean:
	rm -rf bin
