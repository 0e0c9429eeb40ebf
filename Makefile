# Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE.
# Drover -- build, test, demo.
#
#   make            build/droverd, build/droverctl, build/apps/*.so,
#                   build/tests/*,
#                   build/ngx_http_drover_module.so, build/mod_drover.so
#   make test       unit tests (TAP) and t/*.t, then the same under ASan/UBSan
#   make deps       install the Debian packages the build and tests need
#   make bench      wrk benchmark against the peers (bench/README.md)
#   make fuzz       libFuzzer targets (fuzz/README.md), FUZZ_SECONDS each
#   make install    PREFIX=/usr/local, DESTDIR: droverd, droverctl, the
#                   modules, drover.h, the man pages
#   make deb        the Debian packages (debian/) in build/deb/, linted

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
# CFLAGS from the environment (debian/rules: Debian's hardening flags) also
# apply to mod_drover, which has its own flags otherwise (APACHE_CFLAGS)
CFLAGS_ENV := $(CFLAGS)
CFLAGS     += $(CFLAGS_BASE) $(CFLAGS_OPT)

UV_CFLAGS   := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS     := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
JSON_CFLAGS := $(shell pkg-config --cflags json-c 2>/dev/null)
JSON_LIBS   := $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)
# listen acl=USER (socket.c): libacl's acl_* calls
ACL_LIBS    = -lacl

# Debian packages: to build, to test
DEPS_BUILD = gcc make pkg-config libuv1-dev libjson-c-dev nginx-dev libacl1-dev \
             apache2-dev python3-dev
DEPS_TEST  = perl nginx libfcgi-bin wrk openssl curl systemd libio-socket-ssl-perl \
             php-cgi libfcgi-dev acl iproute2 \
             prometheus chromium mmdebstrap apache2 \
             python3-fastapi python3-starlette python3-uvicorn python3-uvloop \
             python3-httptools python3-flask gunicorn
# make deb: dpkg-buildpackage, debhelper, nginx-dev's dh-sequence-nginx and
# apache2-dev's dh_apache2
DEPS_DEB   = dpkg-dev debhelper nginx-dev apache2-dev libuv1-dev libjson-c-dev libacl1-dev pkgconf lintian
# libFuzzer's runtime (libclang_rt.fuzzer) is in libclang-rt-14-dev on Debian 12
DEPS_FUZZ  = clang lld libclang-rt-14-dev

HOST_SRC   = $(wildcard worker_host/src/*.c)
HOST_OBJ   = $(patsubst worker_host/src/%.c,$(BUILD)/obj/%.o,$(HOST_SRC))
HOST_HDR   = $(wildcard worker_host/src/*.h) worker_host/include/drover.h

# droverctl: its own folder, and droverd's shared helpers it needs
CTL_SRC    = $(wildcard worker_host/ctl/*.c)
CTL_OBJ    = $(patsubst worker_host/ctl/%.c,$(BUILD)/obj/ctl/%.o,$(CTL_SRC))
CTL_HDR    = $(wildcard worker_host/ctl/*.h)
CTL_SHARED = $(BUILD)/obj/buf.o $(BUILD)/obj/status_json.o

APPS       = $(BUILD)/apps/hello.so $(BUILD)/apps/kit.so $(BUILD)/apps/model.so \
             $(BUILD)/apps/hostile.so $(BUILD)/apps/fdprobe.so \
             $(BUILD)/apps/privprobe.so

# droverd's Python runtime (apps/python/, docs/python.md): CPython embedded,
# from Debian's python3-dev (not a python3-config earlier in PATH); the
# glue module (glue.py) compiled in as a byte array
PYTHON_CONFIG ?= /usr/bin/python3-config
PY_INCLUDES := $(shell $(PYTHON_CONFIG) --includes 2>/dev/null)
PY_LIBS     := $(shell $(PYTHON_CONFIG) --embed --ldflags 2>/dev/null)
PY_EXE      := $(shell $(PYTHON_CONFIG) --prefix 2>/dev/null)/bin/python3
PYRT        = $(BUILD)/drover_python.so
PYRT_SRC    = $(wildcard apps/python/*.c)

UNIT_SRC   = $(wildcard worker_host/tests/test_*.c)
UNIT_BIN   = $(patsubst worker_host/tests/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# the module's unit tests (clang and lld, as the fuzz targets: see below)
NGX_UNIT_SRC = $(wildcard ngx_module/tests/test_*.c)
NGX_UNIT_BIN = $(patsubst ngx_module/tests/%.c,$(BUILD)/tests/ngx_%, \
                 $(NGX_UNIT_SRC))

.PHONY: all deps k8s-tools test test-unit test-t test-asan demo demo-python bench clean fuzz \
        fuzz-build install man-lint deb

# mod_drover, Apache httpd's front end (apache_module/, docs/apache.md): what
# `apxs -c` would do, with the include flags apxs gives (Debian's
# apache2-dev); no -fvisibility=hidden, httpd looks up drover_module
APXS           ?= apxs
APACHE_MODULE   = $(BUILD)/mod_drover.so
APACHE_SRC      = $(wildcard apache_module/*.c)
APACHE_OBJ      = $(patsubst apache_module/%.c,$(BUILD)/obj/apache/%.o,$(APACHE_SRC))
APACHE_INC     := $(shell $(APXS) -q EXTRA_CPPFLAGS 2>/dev/null) \
                  -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null) \
                  -I$(shell $(APXS) -q APR_INCLUDEDIR 2>/dev/null)
APACHE_CFLAGS   = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -fPIC \
                  $(CFLAGS_OPT) $(CFLAGS_ENV) $(APACHE_INC)

MODULE     = $(BUILD)/ngx_http_drover_module.so
MODULE_SRC = config $(wildcard ngx_module/*.c ngx_module/*.h)

all: $(BUILD)/droverd $(BUILD)/droverctl $(APPS) $(UNIT_BIN) $(MODULE) \
     $(APACHE_MODULE) $(PYRT)

# droverd's Python runtime: its glue module (glue.py) compiled in as a
# byte array
$(BUILD)/obj/python/glue.h: apps/python/glue.py
	@mkdir -p $(dir $@)
	{ echo 'static const unsigned char drover_glue_py[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00 };'; } > $@

$(PYRT): $(PYRT_SRC) apps/python/runtime.h $(BUILD)/obj/python/glue.h \
         $(HOST_HDR)
	$(CC) $(CFLAGS) $(PY_INCLUDES) -I$(BUILD)/obj/python \
	    -DDROVER_PYTHON_EXE='"$(PY_EXE)"' -fPIC -shared $(LDFLAGS) \
	    -o $@ $(PYRT_SRC) $(PY_LIBS)

# against Debian's nginx-dev (/usr/share/nginx/src) with Debian's flags;
# NGINX_SRC=/path/to/nginx-1.x.y builds against an upstream source tree
NGINX_SRC ?= /usr/share/nginx/src
$(MODULE): $(MODULE_SRC) scripts/build-module.sh
	@mkdir -p $(BUILD)
	DROVER_NGX_CFLAGS="$(MODULE_SAN_CFLAGS)" \
	DROVER_NGX_LDFLAGS="$(LDFLAGS_SAN)" \
	    scripts/build-module.sh $(BUILD) $(NGINX_SRC)

# mod_drover: compiled and linked as `apxs -c` would (see APACHE_INC above)
$(BUILD)/obj/apache/%.o: apache_module/%.c $(wildcard apache_module/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(APACHE_CFLAGS) -c -o $@ $<

$(APACHE_MODULE): $(APACHE_OBJ)
	$(CC) -shared $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^

$(BUILD)/obj/%.o: worker_host/src/%.c $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

# -rdynamic: apps resolve the SDK functions (DROVER_API) from droverd itself
$(BUILD)/droverd: $(HOST_OBJ)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -rdynamic -o $@ $^ $(UV_LIBS) $(JSON_LIBS) $(ACL_LIBS) -ldl

# droverctl: a plain blocking client of the control socket
$(BUILD)/obj/ctl/%.o: worker_host/ctl/%.c $(CTL_HDR) $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

$(BUILD)/droverctl: $(CTL_OBJ) $(CTL_SHARED)
	$(CC) $(LDFLAGS) $(LDFLAGS_SAN) -o $@ $^ $(JSON_LIBS)

$(BUILD)/apps/kit.so: apps/kit.c worker_host/include/drover.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(JSON_CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $< $(JSON_LIBS)

$(BUILD)/apps/%.so: apps/%.c worker_host/include/drover.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

# unit tests link every host object but main.o, and their fixture's object
# if they have one (listed below)
$(BUILD)/tests/%: worker_host/tests/%.c worker_host/tests/tap.h $(HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -o $@ $< \
	    $(filter $(BUILD)/tests/obj/%.o,$^) \
	    $(filter-out $(BUILD)/obj/main.o,$(HOST_OBJ)) \
	    $(LDFLAGS_SAN) -rdynamic $(UV_LIBS) $(JSON_LIBS) $(ACL_LIBS) -ldl

# a fixture shared by some unit tests: worker_host/tests/<name>.c and .h
$(BUILD)/tests/obj/%.o: worker_host/tests/%.c worker_host/tests/%.h $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UV_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

# the worker end to end: a live worker and a FastCGI client
WORKER_FIXTURE = $(BUILD)/tests/obj/worker_fixture.o \
                 worker_host/tests/worker_fixture.h
$(BUILD)/tests/test_worker $(BUILD)/tests/test_worker_refused: \
    $(WORKER_FIXTURE)

# the control socket in one process: a fake manager and a client
CONTROL_FIXTURE = $(BUILD)/tests/obj/control_fixture.o \
                  worker_host/tests/control_fixture.h
$(BUILD)/tests/test_control $(BUILD)/tests/test_control_files: \
    $(CONTROL_FIXTURE)

deps:
	@./scripts/deps.sh $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_FUZZ)

test: deps
	@[ -d build/k8s-tools/node_modules/kubernetes-models ] || $(MAKE) k8s-tools \
	    || echo "k8s-tools: npm failed, t/k8s_manifests.t skips its schema checks"
	$(MAKE) test-unit test-t
	$(MAKE) test-asan
	FUZZ_SECONDS=10 $(MAKE) fuzz

test-unit: all $(NGX_UNIT_BIN)
	prove --exec '' $(UNIT_BIN) $(NGX_UNIT_BIN)

# A module's file included whole against the configured nginx tree's
# headers; lld drops what the tested functions do not reach, ASan's global
# metadata included (-fsanitize-address-globals-dead-stripping).
$(BUILD)/tests/ngx_%: ngx_module/tests/%.c $(MODULE)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
	    -fsanitize-address-globals-dead-stripping -Wall -Werror \
	    -ffunction-sections -fdata-sections $(FUZZ_NGX_INC) \
	    -fuse-ld=lld -Wl,--gc-sections -o $@ $<

test-t: all
	DROVER_BUILD=$(abspath $(BUILD)) prove -I t/lib t/

test-asan:
	$(MAKE) BUILD=build/asan SAN=1 test-unit test-t

demo: deps all
	@./scripts/demo.sh

# make demo-python: the same front, a FastAPI app in a droverd python pool
demo-python: deps all
	@./scripts/demo-python.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the module goes to
# PREFIX/lib/nginx/modules (Debian's nginx loads /usr/lib/nginx/modules:
# PREFIX=/usr, or load_module with the full path), mod_drover to
# PREFIX/lib/apache2/modules (LoadModule with the full path)
PREFIX    ?= /usr/local
DESTDIR   ?=
MODULEDIR ?= $(PREFIX)/lib/nginx/modules
APACHE_MODULEDIR ?= $(PREFIX)/lib/apache2/modules
MANPAGES   = docs/droverctl.1 docs/droverd.conf.5 docs/droverd.8

install: $(BUILD)/droverd $(BUILD)/droverctl $(MODULE) $(APACHE_MODULE) $(PYRT)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/drover \
	    $(DESTDIR)$(MODULEDIR) $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(APACHE_MODULEDIR) \
	    $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/droverd $(DESTDIR)$(PREFIX)/sbin/droverd
	install -m 0755 $(BUILD)/droverctl $(DESTDIR)$(PREFIX)/bin/droverctl
	install -m 0644 $(PYRT) $(DESTDIR)$(PREFIX)/lib/drover/drover_python.so
	install -m 0644 $(MODULE) $(DESTDIR)$(MODULEDIR)/ngx_http_drover_module.so
	install -m 0644 $(APACHE_MODULE) $(DESTDIR)$(APACHE_MODULEDIR)/mod_drover.so
	install -m 0644 worker_host/include/drover.h \
	    $(DESTDIR)$(PREFIX)/include/drover.h
	install -m 0644 docs/droverctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/droverd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 docs/droverd.8 $(DESTDIR)$(PREFIX)/share/man/man8/

# the packages: libnginx-mod-http-drover, libapache2-mod-drover, droverd,
# drover-dev (docs/install.md);
# t/deb_install.t installs them into a fresh Debian root
deb:
	@./scripts/deps.sh $(DEPS_DEB)
	@./scripts/build-deb.sh $(abspath build/deb)

# offline checkers of conf.d/k8s/ for t/k8s_manifests.t, from npm: the
# Kubernetes API schemas (kubernetes-models), a YAML parser, dockerfilelint
K8S_TOOLS = kubernetes-models@5.1.0 js-yaml@4.1.0 dockerfilelint@1.8.0

k8s-tools:
	@command -v npm >/dev/null || ./scripts/deps.sh npm
	npm install --no-audit --no-fund --prefix build/k8s-tools $(K8S_TOOLS)

# the man pages: groff's warnings (and mandoc's, when installed) fail it
man-lint:
	@for m in $(MANPAGES); do \
	    out=$$(groff -ww -z -man $$m 2>&1) || exit 1; \
	    [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; \
	    if command -v mandoc >/dev/null; then \
	        out=$$(mandoc -T lint $$m 2>&1); \
	        [ -z "$$out" ] || { echo "$$out"; exit 1; }; \
	    fi; \
	done

# the bench installs its own extra Debian packages (peers, wrk, profilers)
bench: deps all
	@DROVER_BUILD=$(abspath $(BUILD)) ./bench/run.sh

# ---- fuzzing (fuzz/README.md) ----
# libFuzzer targets built with clang, ASan and UBSan into build/fuzz; the
# droverd objects they link are built again with the same flags into
# build/fuzz/obj.  `make fuzz` replays fuzz/regressions/TARGET/ and then
# fuzzes each target for FUZZ_SECONDS from fuzz/corpus/TARGET/; any crash,
# leak or timeout fails the make.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD   ?= build/fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_TARGETS  = $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_HOST_OBJ = $(patsubst worker_host/src/%.c,$(FUZZ_BUILD)/obj/%.o, \
                  $(filter-out worker_host/src/main.c,$(HOST_SRC)))
# the module's parsers compile against the headers of the configured tree
# scripts/build-module.sh leaves in $(BUILD)/nginx-src
FUZZ_NGX     = $(BUILD)/nginx-src
FUZZ_NGX_INC = $(addprefix -I$(FUZZ_NGX)/,src/core src/event \
                 src/event/modules src/os/unix objs src/http \
                 src/http/modules src/http/v2) -Ingx_module

fuzz: deps
	$(MAKE) fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

# built through a pattern rule only: make must not delete them as
# intermediate files
.SECONDARY: $(FUZZ_HOST_OBJ)

# only the configured tree's headers are used: configure it if missing
$(FUZZ_NGX)/objs/ngx_auto_config.h:
	$(MAKE) $(MODULE)

# droverd is kept warning-free with gcc; clang's extra warnings (missing
# field initializers) do not stop the fuzz build
$(FUZZ_BUILD)/obj/%.o: worker_host/src/%.c $(HOST_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -Werror,$(FUZZ_CFLAGS)) \
	    -Wno-missing-field-initializers -fsanitize=fuzzer-no-link \
	    $(UV_CFLAGS) $(JSON_CFLAGS) -c -o $@ $<

# the module's: no droverd objects, nginx's headers; lld drops the unused
# functions of a file included whole, and their nginx references with them.
# The module's code is in the same unit: as for droverd, clang's warnings
# show but do not stop the build.
$(FUZZ_BUILD)/fuzz_ngx_%: fuzz/fuzz_ngx_%.c \
    $(FUZZ_NGX)/objs/ngx_auto_config.h \
    $(wildcard ngx_module/*.c ngx_module/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer \
	    -Wall -ffunction-sections -fdata-sections $(FUZZ_NGX_INC) \
	    -fuse-ld=lld -Wl,--gc-sections -o $@ $<

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_HOST_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(UV_CFLAGS) $(JSON_CFLAGS) \
	    -o $@ $< $(FUZZ_HOST_OBJ) $(FUZZ_LDFLAGS) $(UV_LIBS) $(JSON_LIBS) \
	    $(ACL_LIBS) -ldl -lpthread

# conf.c's open() goes through the harness: no device or FIFO is opened
$(FUZZ_BUILD)/fuzz_conf: FUZZ_LDFLAGS = -Wl,--wrap=open

clean:
	rm -rf $(BUILD) build
