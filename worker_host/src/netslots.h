/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * netslots.h -- `status_listen tcp:ADDR:PORT`: the .slots contract over
 * the network, for front ends on other hosts, and a readiness answer.
 * One line in, one answer out, then the connection closes
 * (docs/fastcgi.md, "The network slots endpoint").
 */

#ifndef DROVER_NETSLOTS_H
#define DROVER_NETSLOTS_H

#include <uv.h>

typedef struct drover_netslots_s  drover_netslots_t;
struct drover_manager_s;

/*
 * Listen on conf's status_listen address, in the manager's loop.  0 (and
 * *out NULL when the config has none), or a negative code with a message
 * in err.
 */
int drover_netslots_start(struct drover_manager_s *m, drover_netslots_t **out,
    char *err, size_t errlen);

/* close the listener and every connection; frees ns in the close callbacks */
void drover_netslots_close(drover_netslots_t *ns);

#endif /* DROVER_NETSLOTS_H */
