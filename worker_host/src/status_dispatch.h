/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * status_dispatch.h -- nginx's dispatch numbers merged into the status
 * object (docs/status.md, "dispatch"): the nginx status page sends them
 * along with its status request.
 */

#ifndef DROVER_STATUS_DISPATCH_H
#define DROVER_STATUS_DISPATCH_H

#include <json-c/json.h>

/*
 * queues is the request's "queues":[{"listen":PATH,"queued":N,...}]; each
 * goes into the pool of status that listens on PATH.  Anything malformed is
 * left out: the page must render whatever nginx sent.
 */
void drover_status_merge_dispatch(json_object *status, json_object *queues);

/*
 * groups is the request's "groups":[{"name":G,...,"hosts":[{"server":S,
 * "state":"up",...}]}] (nginx's drover_group, docs/module.md): its known
 * fields are copied into status as "groups", for every format to show.
 * Anything else is left out.
 */
void drover_status_merge_groups(json_object *status, json_object *groups);

#endif /* DROVER_STATUS_DISPATCH_H */
