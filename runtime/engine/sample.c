/*
 * sample.c - copies of recent records (see sample.h). One allocation per
 * record holds its key, value and headers, so a take frees and copies
 * without a pool to manage; it runs about once a second, not per batch.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"

struct sh_sample {
    int max, count;
    sh_ffi_record_t *records;
    void **blocks; /* per record: its bytes */
};

sh_sample_t *sh_sample_new(int max) {
    sh_sample_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max = max;
    s->records = calloc((size_t)max, sizeof *s->records);
    s->blocks = calloc((size_t)max, sizeof *s->blocks);
    if (!s->records || !s->blocks) {
        sh_sample_free(s);
        return NULL;
    }
    return s;
}

static void clear(sh_sample_t *s) {
    for (int i = 0; i < s->count; i++) free(s->blocks[i]);
    s->count = 0;
}

void sh_sample_free(sh_sample_t *s) {
    if (!s) return;
    if (s->blocks) clear(s);
    free(s->records);
    free(s->blocks);
    free(s);
}

/* One block: the header array, then key, value and each header's name and
 * value, NUL-terminated where C strings are expected. */
static void *copy_record(const sh_ffi_record_t *r, sh_ffi_record_t *out) {
    size_t size = sizeof(sh_ffi_header_t) * (size_t)r->header_count + r->key_len + r->value_len +
                  (r->topic ? r->topic_len : 0);
    for (int i = 0; i < r->header_count; i++)
        size += strlen(r->headers[i].name) + 1 + r->headers[i].value_len;
    char *block = malloc(size + 1);
    if (!block) return NULL;
    *out = *r;
    sh_ffi_header_t *headers = (sh_ffi_header_t *)block;
    char *p = block + sizeof(sh_ffi_header_t) * (size_t)r->header_count;
    if (r->key) {
        memcpy(p, r->key, r->key_len);
        out->key = p;
        p += r->key_len;
    }
    if (r->value) {
        memcpy(p, r->value, r->value_len);
        out->value = p;
        p += r->value_len;
    }
    if (r->topic) { /* a CDC record's own topic */
        memcpy(p, r->topic, r->topic_len);
        out->topic = p;
        p += r->topic_len;
    }
    for (int i = 0; i < r->header_count; i++) {
        size_t name_len = strlen(r->headers[i].name) + 1;
        memcpy(p, r->headers[i].name, name_len);
        headers[i].name = p;
        p += name_len;
        headers[i].value = NULL;
        headers[i].value_len = r->headers[i].value_len;
        if (r->headers[i].value) {
            memcpy(p, r->headers[i].value, r->headers[i].value_len);
            headers[i].value = p;
            p += r->headers[i].value_len;
        }
    }
    out->headers = r->header_count ? headers : NULL;
    return block;
}

void sh_sample_take(sh_sample_t *s, const sh_ffi_record_t *records, int n) {
    clear(s);
    int first = n > s->max ? n - s->max : 0;
    for (int i = first; i < n; i++) {
        void *block = copy_record(&records[i], &s->records[s->count]);
        if (!block) break; /* a smaller sample is still a sample */
        s->blocks[s->count++] = block;
    }
}

const sh_ffi_record_t *sh_sample_records(const sh_sample_t *s, int *n) {
    *n = s->count;
    return s->records;
}
