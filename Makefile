# Thin wrapper over the README's two commands (make demo, make test) and a few conveniences.
# The build itself is CMake; set-up (packages, models, demo image) is scripts/setup.sh.
MAKEFLAGS += --no-print-directory
BUILD     ?= build
SAN_BUILD ?= build-san
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
# Video fixtures are generated once and shared by both builds.
FIXTURES  := $(CURDIR)/$(BUILD)/fixtures

.PHONY: all setup build demo test test-unit test-sanitize bench clean

all: build

setup:
	@sh scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DDFD_WERROR=ON \
		-DDFD_FIXTURE_DIR=$(FIXTURES) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The main job on the bundled default: a clip made from the astronaut portrait.
demo: build
	@sh scripts/demo.sh $(BUILD)/dfdetect $(BUILD)/demo

# Every test: the release build with -Werror, then the unit tests under ASan + UBSan.
test: build test-unit test-sanitize

test-unit:
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-sanitize:
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDFD_SANITIZE=ON \
		-DDFD_WERROR=ON -DDFD_FIXTURE_DIR=$(FIXTURES) >/dev/null
	@cmake --build $(SAN_BUILD) -j$(JOBS)
	@cd $(SAN_BUILD) && ctest -L unit --output-on-failure -j$(JOBS)

bench: build
	$(BUILD)/bench/decode
	$(BUILD)/bench/nn --torch
	$(BUILD)/bench/faces
	$(BUILD)/bench/rnn --torch
	$(BUILD)/bench/train --torch
	bench/scan $(BUILD)/dfdetect
	bench/serve.sh --n 50 --workers 2

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
