# Luffy: `make run` to try it, `make test` to check it. Everything the targets need is
# installed by deploy/stack.sh (PostgreSQL, Docker, ffmpeg from the OS packages; MinIO
# with go install) and kept under .data/.
GO       ?= go
STATICCHECK_VERSION := v0.8.2
export PATH := $(CURDIR)/.data/bin:$(PATH)

.PHONY: all build web stack stack-down stack-status judge-image run test fuzz chaos bench lint

all: build

build: web
	$(GO) build -o bin/luffy ./cmd/luffy

## web: vendor hls.js (pinned in web/package-lock.json) into the web front that `go build`
## embeds; without it the player uses the browser's native HLS only
web: web/app/vendor/hls.min.js
web/app/vendor/hls.min.js: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund && cp node_modules/hls.js/dist/hls.min.js app/vendor/hls.min.js

## stack: bring up the local Postgres (:55432), MinIO (:9000) and Docker engine; idempotent
stack:
	deploy/stack.sh up

stack-down:
	deploy/stack.sh down

stack-status:
	deploy/stack.sh status

## judge-image: build the judge's sandbox image (debootstrap + Docker API import, about
## 3 minutes); a no-op when the image for the current recipe exists
judge-image: stack build
	bin/luffy judge image

## run: the stack, then migrate, seed the demo data and run `luffy up` in the foreground
run: stack build judge-image
	bin/luffy migrate
	bin/luffy seed
	exec bin/luffy up

## test: the stack, then every test (unit and integration against the real stack) and
## a bounded run of every fuzz target
test: stack judge-image
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) fuzz

# Each fuzz target runs for a number of executions (pkg:target:execs, scaled by
# FUZZSCALE); a crasher is saved under testdata/fuzz and becomes a regression case of
# plain `go test`. Counts, not durations: a duration -fuzztime on Go 1.26 can fail with
# "context deadline exceeded" and no crasher when the deadline races a worker
# (golang/go#75804, fixed in Go 1.27).
FUZZSCALE ?= 1
FUZZ_TARGETS := ./catalog:FuzzParseListQuery:100000 ./catalog:FuzzDecodeCursor:100000 \
	./origin:FuzzRequest:20000 ./video:FuzzParseToken:50000 ./video:FuzzDecodeClaims:100000 \
	./video:FuzzParsePath:100000 ./edge:FuzzParseCacheControl:100000 ./edge:FuzzNormalizeKey:100000 \
	./internal/httprange:FuzzParse:100000 ./internal/httpx:FuzzHeaders:100000 \
	./judge/check:FuzzCompare:50000 ./judge/testzip:FuzzRead:20000 ./origin:FuzzJudgeRequest:20000

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$$(( $${rest##*:} * $(FUZZSCALE) )); \
		echo "fuzz $$pkg $$name for $$n executions"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$${n}x $$pkg; \
	done

## chaos: the fault-injection tests (chaos/) in their long variant: the origin killed for
## 2 minutes, MinIO for 1, Postgres down for 20 s, under more load; each test runs a
## private Postgres, MinIO and luffy processes on free ports (make test runs the short one)
chaos: stack
	LUFFY_CHAOS_LONG=1 $(GO) test -count=1 -timeout 30m -v ./chaos/

## bench: the capacity test (30,000 connections held against the edge, catalog and video
## mixed at a fixed rate, with a verdict; bench/capacity.sh), then the micro-benchmarks:
## the origin's cache-hit and segment paths, token verification, ingest against bare
## ffmpeg, the judge (per-test overhead, throughput, submit-to-verdict) and checkout
bench: stack judge-image build
	bench/capacity.sh
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./origin/
	$(GO) test -run='^$$' -bench=Verify -benchmem -count=5 ./video/
	$(GO) test -run='^$$' -bench=IngestVsBareFFmpeg -benchtime=3x ./video/
	$(GO) test -run='^$$' -bench=PerTestOverhead -benchtime=500x ./judge/worker/
	$(GO) test -run='^$$' -bench=Throughput -benchtime=40x -count=3 ./judge/worker/
	$(GO) test -run='^$$' -bench=SubmitToVerdict -benchtime=100x ./judge/worker/
	$(GO) test -run='^$$' -bench=Checkout -benchtime=1x ./bench/checkout/

lint:
	@dirs=$$($(GO) list -f '{{.Dir}}' ./...); test -z "$$(gofmt -l $$dirs)" || { gofmt -l $$dirs; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
