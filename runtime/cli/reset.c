/*
 * reset.c - `streamhost reset APP.lua`: makes the next `run` start over.
 *
 * It deletes the app's local state directory and rewinds its consumer
 * group: the input topics to their beginning, its repartition topics to
 * their end (their records would be produced again from the inputs). The
 * group must have no live member, or the broker refuses the commit; so stop
 * every instance first.
 *
 * The changelogs still hold the old state, and a store without a checkpoint
 * is restored from its changelog. Kafka Streams' tool deletes the internal
 * topics; the embedded broker cannot, so instead each store partition gets
 * an empty database whose checkpoint is the changelog's current end: the
 * next run restores nothing and rebuilds the state from the inputs. Another
 * machine's state directory is its own: run reset there too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/topic_name.h"
#include "kafka/admin.h"
#include "kafka/conf.h"
#include "cli/reset.h"
#include "state/store.h"

typedef struct {
    sh_vm_t *vm;
    rd_kafka_t *rk;
    const char *id;
    char *state_dir;
} reset_t;

/* The app's repartition topics are rewound to their end: their records
 * are rebuilt from the inputs. */
static bool is_repartition(const reset_t *r, const char *topic) {
    return sh_topic_name_parse(r->id, topic, NULL) == SH_TOPIC_REPARTITION;
}

static const char *bootstrap_of(const sh_reset_options_t *o, sh_vm_t *vm) {
    if (o->bootstrap) return o->bootstrap;
    int n;
    const sh_kv_t *props = sh_vm_kafka_props(vm, &n);
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(props[i].key, "bootstrap.servers") == 0) return props[i].value;
    return "embedded";
}

static void print_plan(reset_t *r, bool embedded) {
    sh_ctx_t *ctx = sh_vm_ctx(r->vm);
    printf("streamhost reset will, for app %s:\n", r->id);
    printf("  - delete the local state directory %s\n", r->state_dir);
    if (embedded) {
        printf("  (the app uses the embedded broker, whose topics and offsets live only while it "
               "runs: nothing to reset there)\n");
        return;
    }
    for (int i = 0; i < sh_ffi_source_count(ctx); i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        printf("  - set consumer group %s's offsets on %s to its %s\n", r->id, topic,
               is_repartition(r, topic) ? "end (an internal topic)" : "beginning");
    }
    for (int i = 0; i < sh_ffi_store_count(ctx); i++) {
        const char *name = sh_ctx_store_decl(ctx, i)->name;
        char *changelog = sh_topic_name(r->id, SH_TOPIC_CHANGELOG, name);
        printf("  - start store %s empty, ignoring what %s holds so far\n", name,
               changelog ? changelog : "its changelog");
        free(changelog);
    }
    printf("Stop every instance of the app first.\n");
}

static bool confirmed(void) {
    printf("Proceed? [y/N] ");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return false;
    return line[0] == 'y' || line[0] == 'Y';
}

/* Kafka takes a commit from outside an empty group; the mock cluster only
 * from a member, even when the group is empty. So join it, as the only
 * member, and commit from inside. */
static rd_kafka_resp_err_t commit_as_member(reset_t *r, rd_kafka_topic_partition_list_t *offsets) {
    printf("  joining group %s to commit (the broker wants a member; up to a session timeout)\n",
           r->id);
    fflush(stdout);
    sh_ctx_t *ctx = sh_vm_ctx(r->vm);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < sh_ffi_source_count(ctx); i++)
        rd_kafka_topic_partition_list_add(topics, sh_ffi_source_name(ctx, i), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(r->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) return err;
    err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int waited = 0; waited < 60000; waited += 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (m) rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *assigned = NULL;
        if (rd_kafka_assignment(r->rk, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned->cnt > 0) {
            rd_kafka_topic_partition_list_destroy(assigned);
            err = rd_kafka_commit(r->rk, offsets, 0);
            break;
        }
        if (assigned) rd_kafka_topic_partition_list_destroy(assigned);
    }
    return err;
}

/* Commits the start (or the end) of every partition of the app's sources. */
static int rewind_group(reset_t *r) {
    sh_ctx_t *ctx = sh_vm_ctx(r->vm);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    int rc = 0;
    for (int i = 0; i < sh_ffi_source_count(ctx) && rc == 0; i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        int partitions = sh_kafka_admin_partition_count(r->rk, topic, 10000);
        if (partitions <= 0) {
            printf("  %s does not exist; nothing to rewind\n", topic);
            continue;
        }
        bool to_end = is_repartition(r, topic);
        for (int p = 0; p < partitions; p++) {
            int64_t low, high;
            rd_kafka_resp_err_t err =
                rd_kafka_query_watermark_offsets(r->rk, topic, p, &low, &high, 10000);
            if (err) {
                fprintf(stderr, "streamhost reset: cannot read the offsets of %s [%d]: %s\n", topic, p,
                        rd_kafka_err2str(err));
                rc = 1;
                break;
            }
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = to_end ? high : low;
        }
        printf("  %s: %d partition(s) set to their %s\n", topic, partitions,
               to_end ? "end" : "beginning");
    }
    if (rc == 0 && list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(r->rk, list, 0);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
            err = commit_as_member(r, list);
        if (err) {
            fprintf(stderr, "streamhost reset: cannot commit group %s's offsets: %s (is an "
                    "instance still running?)\n", r->id, rd_kafka_err2str(err));
            rc = 1;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}

/* An empty store whose checkpoint is its changelog's end, per partition. */
static int skip_changelogs(reset_t *r) {
    sh_ctx_t *ctx = sh_vm_ctx(r->vm);
    for (int i = 0; i < sh_ffi_store_count(ctx); i++) {
        const sh_store_decl_t *d = sh_ctx_store_decl(ctx, i);
        char *changelog = sh_topic_name(r->id, SH_TOPIC_CHANGELOG, d->name);
        if (!changelog) {
            fprintf(stderr, "streamhost reset: out of memory\n");
            return 1;
        }
        int partitions = sh_kafka_admin_partition_count(r->rk, changelog, 10000);
        for (int p = 0; p < partitions; p++) {
            int64_t low, high;
            if (rd_kafka_query_watermark_offsets(r->rk, changelog, p, &low, &high, 10000) || high <= 0)
                continue;
            sh_store_t *store = sh_ffi_store_open(NULL, r->state_dir, NULL, d->name, d->kind, p,
                                                  d->retention_ms > 0 ? d->retention_ms : 1);
            if (!store || sh_store_checkpoint_write(store, high - 1) != SH_OK) {
                fprintf(stderr, "streamhost reset: cannot mark store %s partition %d empty: %s\n",
                        d->name, p, sh_ffi_err_message());
                sh_ffi_store_close(store);
                free(changelog);
                return 1;
            }
            sh_ffi_store_close(store);
        }
        if (partitions > 0)
            printf("  store %s: starts empty, past the current end of %s\n", d->name, changelog);
        free(changelog);
    }
    return 0;
}

int sh_reset_run(const sh_reset_options_t *o) {
    char err[2048];
    reset_t r = {0};
    if (!(r.vm = sh_vm_load(o->app_path, NULL, 1, NULL, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    r.id = sh_vm_app_id(r.vm);
    /* --state-dir, else the app's state_dir, else the default */
    if (o->state_dir || sh_vm_state_dir(r.vm))
        r.state_dir = strdup(o->state_dir ? o->state_dir : sh_vm_state_dir(r.vm));
    else if (asprintf(&r.state_dir, "./.streamhost/%s", r.id) < 0)
        r.state_dir = NULL;
    const char *bootstrap = bootstrap_of(o, r.vm);
    bool embedded = strcmp(bootstrap, "embedded") == 0;
    int rc = 0;
    print_plan(&r, embedded);
    if (!o->yes && !confirmed()) {
        printf("Nothing done (pass --yes to skip the question).\n");
        rc = 1;
        goto done;
    }
    if (sh_store_remove_tree(r.state_dir) != SH_OK) {
        fprintf(stderr, "streamhost reset: cannot delete %s\n", r.state_dir);
        rc = 1;
        goto done;
    }
    printf("  deleted %s\n", r.state_dir);
    if (embedded) goto done;

    int n;
    const sh_kv_t *props = sh_vm_kafka_props(r.vm, &n);
    sh_kv_t overrides[] = {{"bootstrap.servers", (char *)bootstrap},
                           {"enable.auto.commit", "false"}};
    rd_kafka_conf_t *conf = sh_kafka_conf_new(RD_KAFKA_CONSUMER, r.id, props, n, overrides, 2, err,
                                          sizeof err);
    if (!conf || !(r.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        fprintf(stderr, "streamhost reset: consumer configuration: %s\n", err);
        rc = 1;
        goto done;
    }
    rc = rewind_group(&r);
    if (rc == 0) rc = skip_changelogs(&r);
    if (rc == 0) printf("Reset done: the next `streamhost run %s` starts over.\n", o->app_path);
done:
    if (r.rk) {
        rd_kafka_consumer_close(r.rk);
        rd_kafka_destroy(r.rk);
    }
    free(r.state_dir);
    sh_vm_free(r.vm);
    return rc;
}
