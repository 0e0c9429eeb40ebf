# Drover -- build, test, demo.
#
#   make            build/droverd, build/droverctl, build/apps/*.so,
#                   build/tests/*,
#                   build/ngx_http_drover_module.so
#   make test       unit tests (TAP) and t/*.t, then the same under ASan/UBSan
#   make deps       install the Debian packages the build and tests need
#   make bench      wrk benchmark against the peers (bench/README.md)

CC       ?= cc
BUILD    ?= build
SAN      ?=

CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g \
              -fvisibility=hidden -Iworker_host/include -Iworker_host/src
ifeq ($(SAN),1)
CFLAGS_OPT  = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
LDFLAGS_SAN = -fsanitize=address,undefined
MODULE_SAN_CFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer
else
MODULE_SAN_CFLAGS =
CFLAGS_OPT  = -O2
LDFLAGS_SAN =
endif
CFLAGS     += $(CFLAGS_BASE) $(CFLAGS_OPT)

UV_CFLAGS   := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS     := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)

# Debian packages: to build, to test
DEPS_BUILD = gcc make pkg-config libuv1-dev libjson-c-dev nginx-dev
DEPS_TEST  = perl nginx libfcgi-bin wrk openssl curl systemd libio-socket-ssl-perl \
             prometheus chromium

HOST_SRC   = $(filter-out worker_host/src/ctl.c, \
               $(wildcard worker_host/src/*.c))
HOST_OBJ   = $(patsubst worker_host/src/%.c,$(BUILD)/obj/%.o,$(HOST_SRC))
HOST_HDR   = $(wildcard worker_host/src/*.h) worker_host/include/drover.h

APPS       = $(BUILD)/apps/hello.so $(BUILD)/apps/kit.so $(BUILD)/apps/model.so \
             $(BUILD)/apps/hostile.so

UNIT_SRC   = $(wildcard worker_host/tests/test_*.c)
UNIT_BIN   = $(patsubst worker_host/tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps test test-unit test-t test-asan demo bench clean

MODULE     = $(BUILD)/ngx_http_drover_module.so
MODULE_SRC = config $(wildcard ngx_module/*.c ngx_module/*.h)

all: $(BUILD)/droverd $(BUILD)/droverctl $(APPS) $(UNIT_BIN) $(MODULE)

# against Debian's nginx-dev (/usr/share/nginx/src) with Debian's flags;
# NGINX_SRC=/path/to/nginx-1.x.y builds against an upstream source tree
NGINX_SRC ?= /usr/share/nginx/src
$(MODULE): $(MODULE_SRC) scripts/build-module.sh
	@mkdir -p $(BUILD)
	DROVER_NGX_CFLAGS="$(MODULE_SAN_CFLAGS)" \
	DROVER_NGX_LDFLAGS="$(LDFLAGS_SAN)" \
	    scripts/build-module.sh $(BUILD) $(NGINX_SRC)

$(BUILD)/obj/%.o: worker_host/src/%.c $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

# -rdynamic: apps resolve the SDK functions (DROVER_API) from droverd itself
$(BUILD)/droverd: $(HOST_OBJ)
	$(CC) $(LDFLAGS_SAN) -rdynamic -o $@ $^ $(UV_LIBS) $(JSON_LIBS) -ldl

# droverctl: a plain blocking client of the control socket
$(BUILD)/droverctl: worker_host/src/ctl.c $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -o $@ $< $(LDFLAGS_SAN) $(JSON_LIBS)

$(BUILD)/apps/kit.so: apps/kit.c worker_host/include/drover.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(JSON_CFLAGS) -fPIC -shared -o $@ $< $(JSON_LIBS)

$(BUILD)/apps/%.so: apps/%.c worker_host/include/drover.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $<

# unit tests link every host object but main.o
$(BUILD)/tests/%: worker_host/tests/%.c worker_host/tests/tap.h $(HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -o $@ $< \
	    $(filter-out $(BUILD)/obj/main.o,$(HOST_OBJ)) \
	    $(LDFLAGS_SAN) -rdynamic $(UV_LIBS) $(JSON_LIBS) -ldl

deps:
	@./scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

test: deps
	$(MAKE) test-unit test-t
	$(MAKE) test-asan

test-unit: all
	prove --exec '' $(UNIT_BIN)

test-t: all
	DROVER_BUILD=$(abspath $(BUILD)) prove -I t/lib t/

test-asan:
	$(MAKE) BUILD=build/asan SAN=1 test-unit test-t

demo: deps all
	@./scripts/demo.sh

# the bench installs its own extra Debian packages (peers, wrk, profilers)
bench: deps all
	@DROVER_BUILD=$(abspath $(BUILD)) ./bench/run.sh

clean:
	rm -rf $(BUILD) build
