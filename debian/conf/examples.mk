# Makefile -- build the hello example into hello.so with the installed SDK
# (drover-dev): make, then point a pool's "app" at $(PWD)/hello.so.
CC ?= cc
CFLAGS ?= -O2 -g -Wall -Wextra

hello.so: hello.c
	$(CC) $(CFLAGS) $$(pkg-config --cflags drover) -shared -fPIC -o $@ hello.c

clean:
	rm -f hello.so

.PHONY: clean
