# ADAM: `make run` and `make test` are all a newcomer needs (as root, Debian 12).
# SANITIZE=address,undefined or SANITIZE=thread: the same targets in their own
# folder (build-address-undefined, build-thread), built by clang.
SANITIZE ?=
comma := ,
ifeq ($(SANITIZE),)
BUILD_DIR ?= build
CMAKE_EXTRA ?=
else
BUILD_DIR ?= build-$(subst $(comma),-,$(SANITIZE))
CMAKE_EXTRA ?= -DADAM_SANITIZE=$(SANITIZE) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
endif
# The TSan folder builds and runs only the tests of the threaded parts
# (label `threaded`, tests/CMakeLists.txt).
ifeq ($(SANITIZE),thread)
CTEST_ARGS ?= -L threaded
endif
CTEST_ARGS ?=
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
# What `make run` passes to adamd: a state dir in the checkout, loopback only,
# and the demo lab so the plugins have traffic to work on.
RUN_ARGS ?= --state-dir var --listen 127.0.0.1:9988 --demo

.PHONY: all deps build run test package clean format fuzz

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_EXTRA)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# scripts/demo-lab.sh starts adamd, then the firewall on the lab with a
# logging drop rule and traffic for it, so the dashboard's charts move.
run: build
	scripts/demo-lab.sh $(BUILD_DIR)/adamd $(RUN_ARGS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600 $(CTEST_ARGS)

# `make fuzz FUZZ_SECONDS=30`: the libFuzzer targets of tests/fuzz/, built in
# the ASan folder (the one `make build SANITIZE=address,undefined` makes),
# each run FUZZ_SECONDS on a scratch copy of its seeds (scripts/fuzz.sh), JOBS
# targets at a time. FUZZ_TARGETS="rule_json_fuzz ..." picks some.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
FUZZ_BUILD_DIR := build-address-undefined
fuzz: deps
	test -f $(FUZZ_BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(FUZZ_BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DADAM_SANITIZE=address,undefined -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_targets
	FUZZ_JOBS=$(JOBS) scripts/fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The Debian package: $(BUILD_DIR)/adam_<version>_amd64.deb (cmake/Package.cmake).
package: build
	cmake --build $(BUILD_DIR) --target package

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.c' | grep -v '^build')

clean:
	rm -rf $(BUILD_DIR)
