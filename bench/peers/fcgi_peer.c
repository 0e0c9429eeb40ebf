/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * fcgi_peer.c -- the classic C FastCGI peer for bench/: a libfcgi responder
 * run by spawn-fcgi (listening socket on fd 0), answering the three bench
 * workloads with the same app work as Drover's kit app:
 *
 *   /             "hello\n"                          (6 bytes)
 *   /big?kb=N     N KiB of kit's pattern, computed per request with kit's
 *                 code (line L is L as 15 hex digits + "\n"), so that (b)-(d)
 *                 in bench/ differ in the stack only, not in the app's work
 *   /echo         the request body back (read in 16 KiB pieces and written)
 *
 * No Content-Length, like kit: nginx frames the body for the client.
 *   cc -O2 -o fcgi_peer fcgi_peer.c -lfcgi
 */
#include <fcgiapp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINE   16
#define CHUNK  65536

static void
big_line(char *dst, uint64_t line)
{
    int  i;

    for (i = LINE - 2; i >= 0; i--) {
        dst[i] = "0123456789abcdef"[line & 0xf];
        line >>= 4;
    }
    dst[LINE - 1] = '\n';
}

int
main(void)
{
    static char    buf[CHUNK];
    FCGX_Request   r;
    const char    *uri, *q;
    long           kb;
    uint64_t       line, lines;
    size_t         len;
    int            n;

    if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0) {
        return 1;
    }

    while (FCGX_Accept_r(&r) >= 0) {
        uri = FCGX_GetParam("DOCUMENT_URI", r.envp);
        uri = uri ? uri : "/";
        FCGX_PutS("Content-Type: text/plain\r\n\r\n", r.out);

        if (strcmp(uri, "/big") == 0) {
            q = FCGX_GetParam("QUERY_STRING", r.envp);
            kb = (q && strncmp(q, "kb=", 3) == 0) ? atol(q + 3) : 64;
            lines = (uint64_t) (kb < 0 ? 0 : kb > 1048576 ? 1048576 : kb) * (1024 / LINE);
            for (line = 0; line < lines; ) {
                for (len = 0; len < CHUNK && line < lines; line++, len += LINE) {
                    big_line(buf + len, line);
                }
                FCGX_PutStr(buf, (int) len, r.out);
            }

        } else if (strcmp(uri, "/echo") == 0) {
            while ((n = FCGX_GetStr(buf, 16384, r.in)) > 0) {
                FCGX_PutStr(buf, n, r.out);
            }

        } else {
            FCGX_PutStr("hello\n", 6, r.out);
        }

        FCGX_Finish_r(&r);
    }

    return 0;
}
