/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * test_render.c -- the status object as Prometheus text and as HTML: what
 * each view prints, escaping, and input that lacks or mistypes anything;
 * nginx's dispatch numbers merged into it (status_dispatch.c).
 */

#include "render.h"
#include "status_dispatch.h"
#include "status_json.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>


static const char  status_json[] =
    "{\"droverd\":{\"version\":\"0.2.0\",\"pid\":7,\"uptime_ms\":90000,"
    "\"config\":\"/etc/<d>.conf\"},"
    "\"pools\":[{\"name\":\"k\\\"\\\\\\n\",\"generation\":2,\"workers\":2,"
    "\"state\":\"failing\",\"requests_total\":10,\"requests_per_s\":null,"
    "\"busy_fraction_1m\":0.5,\"busy_target_low\":0.5,"
    "\"busy_target_high\":0.9,\"advice\":\"a & b\","
    "\"memory_shared_bytes\":1048576,\"memory_private_bytes\":2048,"
    "\"memory_budget_bytes\":0,\"queue_depth\":3,\"queue_wait_ms\":2.5,"
    "\"dispatch\":{\"requests\":9,\"wait_ms\":1500,\"overflows\":1,"
    "\"timeouts\":2},\"prestart\":null,"
    "\"workers_detail\":[{\"slot\":0,\"pid\":11,\"state\":\"busy\","
    "\"requests\":4,\"current_uri\":\"/<x>?a='1'\",\"current_ms\":12,"
    "\"cpu_percent_1s\":null,\"cpu_percent_1m\":50,\"rss_bytes\":4096,"
    "\"uptime_ms\":1000,\"restarts\":1,\"exits\":{\"signal\":1},"
    "\"last_exit\":null},"
    "{\"slot\":1,\"pid\":null,\"state\":\"empty\",\"requests\":0,"
    "\"rss_bytes\":0,\"exits\":{}}]}]}";


static char *
render(int prom, json_object *status, int *rc)
{
    char    *text = NULL;
    size_t   len = 0;

    *rc = prom ? drover_render_prometheus(status, &text, &len)
               : drover_render_html(status, &text, &len);

    if (*rc == 0 && strlen(text) != len) {
        printf("# the length is not the text's\n");
    }

    return text;
}


static int
has(const char *text, const char *line)
{
    return text != NULL && strstr(text, line) != NULL;
}


static void
test_prometheus(json_object *status)
{
    int    rc;
    char  *t = render(1, status, &rc);

    ASSERT_EQ(rc, 0, "prometheus: rendered");
    ASSERT_TRUE(has(t, "# HELP drover_up Whether droverd answered.\n"
                    "# TYPE drover_up gauge\ndrover_up 1\n"), "drover_up");
    ASSERT_TRUE(has(t, "drover_uptime_seconds 90.000\n"), "uptime");
    ASSERT_TRUE(has(t, "drover_pool_failing{pool=\"k\\\"\\\\\\n\"} 1\n"),
                "a label value escaped, failing");
    ASSERT_TRUE(has(t, "drover_pool_workers{pool=\"k\\\"\\\\\\n\"} 2\n"),
                "a pool metric");
    ASSERT_TRUE(!has(t, "drover_pool_requests_per_second{"),
                "a null figure is left out");
    ASSERT_TRUE(has(t, "drover_pool_queue_wait_seconds{pool=\"k\\\"\\\\\\n\"}"
                    " 0.0025000000000000001\n"), "ms become seconds");
    ASSERT_TRUE(has(t, "drover_pool_queue_wait_seconds_total{pool="
                    "\"k\\\"\\\\\\n\"} 1.5\n"), "dispatch: wait_ms in s");
    ASSERT_TRUE(has(t, "drover_worker_cpu_ratio{pool=\"k\\\"\\\\\\n\","
                    "worker=\"0\"} 0.5\n"), "a worker metric, scaled");
    ASSERT_TRUE(!has(t, "drover_worker_resident_memory_bytes{pool=\"k\\\""
                     "\\\\\\n\",worker=\"1\"}"), "no pid: no worker sample");
    ASSERT_TRUE(has(t, "drover_worker_state{pool=\"k\\\"\\\\\\n\",worker="
                    "\"0\",state=\"busy\"} 1\n"), "the current state is 1");
    ASSERT_TRUE(has(t, "drover_worker_state{pool=\"k\\\"\\\\\\n\",worker="
                    "\"0\",state=\"idle\"} 0\n"), "another state is 0");
    ASSERT_TRUE(has(t, "drover_worker_exits_total{pool=\"k\\\"\\\\\\n\","
                    "worker=\"0\",reason=\"signal\"} 1\n"), "exits");

    free(t);
}


static void
test_html(json_object *status)
{
    int    rc;
    char  *t = render(0, status, &rc);

    ASSERT_EQ(rc, 0, "html: rendered");
    ASSERT_TRUE(strncmp(t, "<!DOCTYPE html>\n", 16) == 0, "a document");
    ASSERT_TRUE(has(t, "droverd 0.2.0, pid 7, up 1.5 min, config "
                    "/etc/&lt;d&gt;.conf;"), "the droverd line, escaped");
    ASSERT_TRUE(has(t, "<h2>k&quot;\\\n <span class=\"state failing\">"
                    "failing</span>"), "the pool's name escaped, its state");
    ASSERT_TRUE(has(t, "<p class=\"advice\">a &amp; b</p>"), "advice");
    ASSERT_TRUE(has(t, "<dd>1.0 MiB shared + 2 KiB private</dd>"),
                "memory, no budget");
    ASSERT_TRUE(has(t, "<dd>3 waiting, 2.5 ms average wait, 0 replays, 3 "
                    "refused, 0 pipelined (0 taken back)</dd>"),
                "the queue line");
    ASSERT_TRUE(has(t, "<td class=\"wrap\">/&lt;x&gt;?a=&#39;1&#39; "
                    "(12 ms)</td>"),
                "the current URI escaped");
    ASSERT_TRUE(has(t, "<tr class=\"empty\"><td>1</td><td></td>"),
                "no pid: an empty cell");
    ASSERT_TRUE(has(t, "</body></html>\n"), "the end");

    free(t);
}


static void
test_bad_input(void)
{
    int           rc;
    char         *t;
    json_object  *o;

    o = json_tokener_parse("{\"pools\":{}}");
    t = render(1, o, &rc);
    ASSERT_EQ(rc, -EINVAL, "prometheus: pools not an array");
    t = render(0, o, &rc);
    ASSERT_EQ(rc, -EINVAL, "html: pools not an array");
    json_object_put(o);

    /* every type wrong: no crash, no NaN */
    o = json_tokener_parse("{\"droverd\":[],\"pools\":[7,{\"name\":1,"
                           "\"workers\":NaN,\"workers_detail\":\"no\"},"
                           "{\"workers_detail\":[{\"pid\":1,\"exits\":5,"
                           "\"requests\":Infinity}]}]}");
    t = render(1, o, &rc);
    ASSERT_EQ(rc, 0, "prometheus: mistyped input renders");
    ASSERT_TRUE(!has(t, "nan") && !has(t, "inf"), "prometheus: no NaN");
    ASSERT_TRUE(has(t, "drover_pool_workers{pool=\"\"} 0\n"),
                "a NaN reads 0");
    free(t);

    t = render(0, o, &rc);
    ASSERT_EQ(rc, 0, "html: mistyped input renders");
    ASSERT_TRUE(!has(t, "nan") && !has(t, "inf"), "html: no NaN");
    free(t);
    json_object_put(o);

    o = json_tokener_parse("{\"pools\":[]}");
    t = render(0, o, &rc);
    ASSERT_TRUE(rc == 0 && has(t, "<p>No pools.</p>\n"), "html: no pools");
    free(t);
    json_object_put(o);
}


static void
test_merge_dispatch(void)
{
    double        d;
    json_object  *st, *q, *p0, *p1, *disp;

    /* "x" has no string listen: skipped, not compared (it was strcmp'd) */
    st = json_tokener_parse("{\"pools\":[{\"name\":\"a\",\"listen\":\"/a\","
                            "\"queue_depth\":null},{\"name\":\"b\","
                            "\"listen\":\"/b\"},{\"name\":\"x\","
                            "\"listen\":null}]}");
    q = json_tokener_parse("[5,{\"listen\":7},{\"listen\":\"/nope\","
                           "\"queued\":1},{\"listen\":\"/b\",\"queued\":2,"
                           "\"waited\":4,\"wait_ms\":10,\"replays\":-1,"
                           "\"moved\":\"x\",\"pipelined\":1.5,"
                           "\"failures\":3}]");

    drover_status_merge_dispatch(st, q);

    p0 = json_object_array_get_idx(drover_json_get(st, "pools"), 0);
    p1 = json_object_array_get_idx(drover_json_get(st, "pools"), 1);

    ASSERT_TRUE(drover_json_get(p0, "dispatch") == NULL
                && drover_json_get(p0, "queue_depth") == NULL,
                "merge: a pool nginx did not name is left alone");
    ASSERT_TRUE(drover_json_number(p1, "queue_depth", &d) && d == 2,
                "merge: queue_depth");
    ASSERT_TRUE(drover_json_number(p1, "queue_wait_ms", &d) && d == 2.5,
                "merge: queue_wait_ms is the average wait");

    disp = drover_json_get(p1, "dispatch");
    ASSERT_TRUE(drover_json_number(disp, "failures", &d) && d == 3,
                "merge: a counter is copied");
    ASSERT_TRUE(drover_json_get(disp, "replays") == NULL
                && drover_json_get(disp, "moved") == NULL
                && drover_json_get(disp, "pipelined") == NULL,
                "merge: negative, string and fraction are left out");

    ASSERT_TRUE(drover_json_get(json_object_array_get_idx(
                    drover_json_get(st, "pools"), 2), "dispatch") == NULL,
                "merge: a pool whose listen is not a string is left alone");

    drover_status_merge_dispatch(st, NULL);
    drover_status_merge_dispatch(NULL, q);
    ASSERT_TRUE(drover_json_get(p0, "dispatch") == NULL
                && drover_json_get(p1, "dispatch") == disp,
                "merge: no queues, or no status, changes nothing");

    json_object_put(q);
    json_object_put(st);
}


/* nginx's drover_group: copied field by field, then on both pages */
static void
test_merge_groups(void)
{
    int           rc;
    char         *text;
    json_object  *st, *g, *gs, *h;

    st = json_tokener_parse("{\"pools\":[]}");
    g = json_tokener_parse("[7,{\"slots\":2},{\"name\":\"web\",\"up\":2,"
                           "\"replays\":-1,\"evil\":\"x\",\"hosts\":[1,"
                           "{\"server\":\"10.0.0.1:9090\",\"pool\":\"kit\","
                           "\"state\":\"up\",\"slots\":2,\"up\":2,\"busy\":1,"
                           "\"since\":1796310000,\"state_ms\":4200,"
                           "\"error\":\"\"},{\"server\":\"<b>&:1\","
                           "\"state\":\"down\",\"slots\":2,\"up\":0,"
                           "\"error\":\"connection refused\",\"since\":null,"
                           "\"probe_failures\":3}]}]");

    drover_status_merge_groups(st, g);

    gs = drover_json_get(st, "groups");
    ASSERT_TRUE(drover_json_length(gs) == 1,
                "groups: only the objects with a name are kept");
    ASSERT_TRUE(drover_json_get(json_object_array_get_idx(gs, 0), "evil")
                == NULL
                && drover_json_get(json_object_array_get_idx(gs, 0),
                                   "replays") == NULL,
                "groups: an unknown field and a negative number are left out");
    h = drover_json_get(json_object_array_get_idx(gs, 0), "hosts");
    ASSERT_TRUE(drover_json_length(h) == 2,
                "groups: a host that is not an object is left out");

    text = render(0, st, &rc);
    ASSERT_TRUE(rc == 0 && has(text, "<h2>group web <span class=\"state\">"
                               "2 of 4 slots up</span></h2>"),
                "groups html: the group, its slots up of every host's");
    ASSERT_TRUE(has(text, "<tr class=\"host up\"><td>10.0.0.1:9090</td>"
                    "<td>kit</td><td>up</td><td>2026-12-03 15:00:00 UTC "
                    "(4.2 s)</td><td>2 of 2</td><td>1</td>"),
                "groups html: a host up, since when, its slots and busy");
    ASSERT_TRUE(has(text, "<tr class=\"host down\"><td>&lt;b&gt;&amp;:1</td>")
                && has(text, "<td class=\"wrap\">connection refused</td>"),
                "groups html: a host down, escaped, with its error");
    free(text);

    text = render(1, st, &rc);
    ASSERT_TRUE(rc == 0
                && has(text, "\ndrover_group_slots_up{group=\"web\"} 2\n")
                && has(text, "\ndrover_group_host_up{group=\"web\","
                       "server=\"10.0.0.1:9090\"} 1\n")
                && has(text, "\ndrover_group_host_up{group=\"web\","
                       "server=\"<b>&:1\"} 0\n")
                && has(text, "\ndrover_group_host_state_seconds{group=\"web\","
                       "server=\"10.0.0.1:9090\"} 4.2000000000000002\n"),
                "groups prometheus: the group's and each host's samples");
    free(text);

    json_object_put(g);

    g = json_tokener_parse("[]");
    json_object_object_del(st, "groups");
    drover_status_merge_groups(st, g);
    drover_status_merge_groups(NULL, g);
    ASSERT_TRUE(drover_json_get(st, "groups") == NULL,
                "groups: none from nginx adds nothing");

    json_object_put(g);
    json_object_put(st);
}


int
main(void)
{
    json_object  *status = json_tokener_parse(status_json);

    ASSERT_TRUE(status != NULL, "the fixture parses");

    test_prometheus(status);
    test_html(status);
    test_bad_input();
    test_merge_dispatch();
    test_merge_groups();

    json_object_put(status);
    return tap_done();
}
