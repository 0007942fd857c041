/*
 * schemas_test.c - the registry's rules without HTTP: ids, versions, soft
 * and permanent deletes, each compatibility level with a pass and a fail,
 * and a replay of the persisted records that gives back every id.
 */
#include <stdlib.h>
#include <string.h>

#include "registry/schemas.h"

#include "base/check.h"

/* what persist wrote: the _schemas topic */
typedef struct {
    char *key[256], *value[256];
    int n;
} journal_t;

static int persist(void *arg, const char *key, const char *value, char *err, size_t errlen) {
    (void)err, (void)errlen;
    journal_t *j = arg;
    j->key[j->n] = strdup(key);
    j->value[j->n++] = value ? strdup(value) : NULL;
    return 0;
}

#define R(fields) "{\"type\":\"record\",\"name\":\"R\",\"fields\":[" fields "]}"
#define F_A_INT "{\"name\":\"a\",\"type\":\"int\"}"
#define F_A_LONG "{\"name\":\"a\",\"type\":\"long\"}"
#define F_A_STRING "{\"name\":\"a\",\"type\":\"string\"}"
#define F_B_DEFAULT "{\"name\":\"b\",\"type\":\"string\",\"default\":\"x\"}"
#define F_B "{\"name\":\"b\",\"type\":\"string\"}"

static int reg(sh_schemas_t *s, const char *subject, const char *text) {
    sh_schemas_status_t st = {0};
    int id = -1;
    if (sh_schemas_register(s, subject, text, &id, &st) != 0) return -st.error_code;
    return id;
}

static void set_level(sh_schemas_t *s, const char *subject, int level) {
    sh_schemas_status_t st;
    CHECK(sh_schemas_set_level(s, subject, level, &st) == 0);
}

static void test_ids_and_versions(void) {
    journal_t j = {0};
    sh_schemas_t *s = sh_schemas_new(persist, &j);
    int id = reg(s, "t-value", R(F_A_INT));
    CHECK(id == 1);
    CHECK(reg(s, "t-value", R(F_A_INT)) == 1); /* same schema, same id, no new version */
    /* the same schema, keys in another order, is the same schema */
    CHECK(reg(s, "t-value",
              "{\"fields\":[{\"type\":\"int\",\"name\":\"a\"}],\"name\":\"R\","
              "\"type\":\"record\"}") == 1);
    CHECK(reg(s, "u-value", R(F_A_INT)) == 1); /* global ids */
    CHECK(reg(s, "t-value", R(F_A_INT "," F_B_DEFAULT)) == 2);
    sh_schemas_status_t st = {0};
    const sh_schema_version_t *v = sh_schemas_version(s, "t-value", "latest", false, &st);
    CHECK(v && v->version == 2 && v->id == 2);
    CHECK(!sh_schemas_version(s, "t-value", "3", false, &st) && st.error_code == 40402);
    CHECK(!sh_schemas_version(s, "nope", "1", false, &st) && st.error_code == 40401);
    CHECK(!sh_schemas_version(s, "t-value", "x", false, &st) && st.error_code == 42202);
    CHECK(reg(s, "t-value", "{\"type\":\"bogus\"}") == -42201);
    CHECK(sh_schemas_lookup(s, "t-value", R(F_A_INT), &st)->version == 1);
    CHECK(!sh_schemas_lookup(s, "t-value", R(F_A_LONG), &st) && st.error_code == 40403);

    /* soft delete, then permanent; the id stays readable */
    int versions[8];
    CHECK(sh_schemas_delete(s, "u-value", NULL, true, versions, 8, &st) == -1 &&
          st.error_code == 40405);
    CHECK(sh_schemas_delete(s, "u-value", NULL, false, versions, 8, &st) == 1 && versions[0] == 1);
    CHECK(!sh_schemas_subject_exists(s, "u-value", false));
    CHECK(sh_schemas_delete(s, "u-value", NULL, true, versions, 8, &st) == 1);
    CHECK(!sh_schemas_subject_exists(s, "u-value", true));
    CHECK(sh_schemas_text(s, 1) != NULL);

    /* a registry that reads the same records back has the same ids */
    sh_schemas_t *again = sh_schemas_new(NULL, NULL);
    for (int i = 0; i < j.n; i++)
        sh_schemas_apply(again, j.key[i], strlen(j.key[i]), j.value[i],
                         j.value[i] ? strlen(j.value[i]) : 0);
    v = sh_schemas_version(again, "t-value", "2", false, &st);
    CHECK(v && v->id == 2);
    CHECK(!sh_schemas_subject_exists(again, "u-value", true));
    CHECK(reg(again, "v-value", R(F_A_STRING)) == 3); /* ids go on where they were */
    sh_schemas_free(again);
    sh_schemas_free(s);
    for (int i = 0; i < j.n; i++) {
        free(j.key[i]);
        free(j.value[i]);
    }
}

/* level, first schema, next schema, next after that (for transitive), and
 * whether the second and third registrations pass */
static void test_levels(void) {
    struct {
        int level;
        const char *v1, *v2;
        bool pass;
    } cases[] = {
        {SH_COMPAT_NONE, R(F_A_INT), R(F_A_STRING), true},
        {SH_COMPAT_BACKWARD, R(F_A_INT), R(F_A_LONG), true},    /* int promotes */
        {SH_COMPAT_BACKWARD, R(F_A_INT), R(F_A_STRING), false}, /* type changed */
        {SH_COMPAT_BACKWARD, R(F_A_INT), R(F_A_INT "," F_B_DEFAULT), true},
        {SH_COMPAT_BACKWARD, R(F_A_INT), R(F_A_INT "," F_B), false}, /* new field, no default */
        {SH_COMPAT_FORWARD, R(F_A_INT), R(F_A_INT "," F_B), true},   /* old readers skip b */
        {SH_COMPAT_FORWARD, R(F_A_INT "," F_B), R(F_A_INT), false},  /* old readers need b */
        {SH_COMPAT_FORWARD, R(F_A_LONG), R(F_A_INT), true},
        {SH_COMPAT_FULL, R(F_A_INT), R(F_A_INT "," F_B_DEFAULT), true},
        {SH_COMPAT_FULL, R(F_A_INT), R(F_A_LONG), false}, /* long cannot become int */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sh_schemas_t *s = sh_schemas_new(NULL, NULL);
        set_level(s, "t", cases[i].level);
        CHECK(reg(s, "t", cases[i].v1) > 0);
        int got = reg(s, "t", cases[i].v2);
        if (cases[i].pass != (got > 0))
            fprintf(stderr, "level %s, case %zu: got %d\n", sh_compat_level_name(cases[i].level), i,
                    got);
        CHECK(cases[i].pass ? got > 0 : got == -409);
        sh_schemas_free(s);
    }
    /* transitive levels check every earlier version, plain ones only the latest:
     * v1 {a}, v2 {} (drops a), v3 {a: string, default}: v3 reads v2 (a has a
     * default) but not v1 (a was an int) */
    const char *v1 = R(F_A_INT), *v2 = R(""),
               *v3 = R("{\"name\":\"a\",\"type\":\"string\",\"default\":\"\"}");
    int levels[][2] = {{SH_COMPAT_BACKWARD, 1},
                       {SH_COMPAT_BACKWARD_TRANSITIVE, 0},
                       {SH_COMPAT_FULL, 1},
                       {SH_COMPAT_FULL_TRANSITIVE, 0}};
    for (int i = 0; i < 4; i++) {
        sh_schemas_t *s = sh_schemas_new(NULL, NULL);
        set_level(s, NULL, SH_COMPAT_NONE);
        CHECK(reg(s, "t", v1) > 0 && reg(s, "t", v2) > 0);
        set_level(s, NULL, levels[i][0]);
        int got = reg(s, "t", v3);
        CHECK(levels[i][1] ? got > 0 : got == -409);
        sh_schemas_free(s);
    }
    /* FORWARD_TRANSITIVE: v1 {a:int}, v2 {a:int, b default}, v3 {b default}
     * v1 readers need a, which v3 no longer writes */
    sh_schemas_t *s = sh_schemas_new(NULL, NULL);
    set_level(s, NULL, SH_COMPAT_NONE);
    CHECK(reg(s, "t", R(F_A_INT)) > 0);
    CHECK(reg(s, "t", R("{\"name\":\"a\",\"type\":\"int\",\"default\":0}," F_B_DEFAULT)) > 0);
    set_level(s, NULL, SH_COMPAT_FORWARD);
    sh_schemas_status_t st;
    bool compatible;
    char why[1024];
    CHECK(sh_schemas_check(s, "t", "latest", R(F_B_DEFAULT), &compatible, why, sizeof why, &st) ==
              0 &&
          compatible);
    set_level(s, NULL, SH_COMPAT_FORWARD_TRANSITIVE);
    CHECK(reg(s, "t", R(F_B_DEFAULT)) == -409);
    set_level(s, NULL, SH_COMPAT_FORWARD);
    CHECK(reg(s, "t", R(F_B_DEFAULT)) > 0);
    CHECK(sh_schemas_get_level(s, "t") == -1);
    CHECK(sh_compat_level_parse("FULL_TRANSITIVE") == SH_COMPAT_FULL_TRANSITIVE);
    CHECK(sh_compat_level_parse("full") == -1);
    sh_schemas_free(s);
}

int main(void) {
    test_ids_and_versions();
    test_levels();
    return check_summary("schemas_test");
}
