/*
 * avro_serde_test.c - the FFI's Avro handle against an in-process registry
 * (memory only): registration once per schema, the wire format's header,
 * decode after encode, the one error channel for a bad magic byte, an
 * unknown id and a refused schema change; a subject's latest version; under ASan, no leak on any path.
 */
#include <string.h>

#include "registry/registry.h"
#include "streamhost_ffi.h"

#include "base/check.h"

#define SCHEMA_V1                                                                                  \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}"
#define SCHEMA_BAD                                                                                 \
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\",\"type\":\"string\"}]}"

int main(void) {
    char err[512];
    sh_registry_t *reg = sh_registry_start("127.0.0.1:0", NULL, err, sizeof err);
    CHECK(reg != NULL);
    if (!reg) return check_summary("avro_serde_test");
    sh_avro_t *avro = sh_ffi_avro_new(sh_registry_url(reg));
    CHECK(avro != NULL);

    int w = sh_ffi_avro_writer(avro, "t-value", SCHEMA_V1);
    CHECK(w >= 0);
    CHECK(sh_ffi_avro_writer(avro, "t-value", SCHEMA_V1) == w); /* cached, not registered again */
    int id = sh_ffi_avro_writer_id(avro, w);
    CHECK(id > 0);

    sh_ffi_avro_value_t in[] = {
        {.kind = SH_AVRO_V_MAP, .integer = 1},
        {.kind = SH_AVRO_V_STRING, .data = "n", .len = 1},
        {.kind = SH_AVRO_V_NUMBER, .number = -3},
    };
    sh_ffi_slice_t out;
    CHECK(sh_ffi_avro_encode(avro, w, in, 3, &out) == SH_OK);
    unsigned char want[] = {0,
                            (unsigned char)(id >> 24),
                            (unsigned char)(id >> 16),
                            (unsigned char)(id >> 8),
                            (unsigned char)id,
                            0x05};
    CHECK(out.len == sizeof want && memcmp(out.data, want, sizeof want) == 0);

    char framed[16];
    memcpy(framed, out.data, out.len);
    const sh_ffi_avro_value_t *values;
    int32_t count;
    CHECK(sh_ffi_avro_decode(avro, framed, sizeof want, &values, &count) == SH_OK);
    CHECK(count == 2 && values[0].kind == SH_AVRO_V_RECORD && values[1].integer == -3);
    CHECK(strcmp(sh_ffi_avro_name(avro, values[1].name), "n") == 0);
    CHECK(sh_ffi_avro_schema_text(avro, id) != NULL);

    /* failures through the one channel */
    framed[0] = 1;
    CHECK(sh_ffi_avro_decode(avro, framed, sizeof want, &values, &count) == SH_ERR_DECODE);
    CHECK(strstr(sh_ffi_err_message(), "magic byte 1"));
    framed[0] = 0;
    framed[4] = 99;
    CHECK(sh_ffi_avro_decode(avro, framed, sizeof want, &values, &count) == SH_ERR_NOT_FOUND);
    CHECK(strstr(sh_ffi_err_message(), "unknown schema id"));
    CHECK(sh_ffi_avro_writer(avro, "t-value", SCHEMA_BAD) == -1); /* BACKWARD refuses it */
    CHECK(sh_ffi_err_code() == SH_ERR_INVALID && strstr(sh_ffi_err_message(), "409") &&
          strstr(sh_ffi_err_message(), "t-value"));
    CHECK(sh_ffi_avro_writer(avro, "u-value", "{\"type\":") == -1);
    /* a subject's latest version; none for a subject without one */
    const char *latest = sh_ffi_avro_latest(avro, "t-value");
    CHECK(latest != NULL && strstr(latest, "\"long\"") != NULL);
    CHECK(sh_ffi_avro_latest(avro, "u-value") == NULL && sh_ffi_err_code() == SH_ERR_NOT_FOUND);
    in[2] = (sh_ffi_avro_value_t){.kind = SH_AVRO_V_STRING, .data = "x", .len = 1};
    CHECK(sh_ffi_avro_encode(avro, w, in, 3, &out) == SH_ERR_INVALID);
    CHECK(strstr(sh_ffi_err_message(), "field n"));

    sh_ffi_avro_destroy(avro);
    /* a registry nobody listens on: an error, not a hang or a crash */
    sh_avro_t *nowhere = sh_ffi_avro_new("http://127.0.0.1:1");
    CHECK(sh_ffi_avro_writer(nowhere, "t-value", SCHEMA_V1) == -1);
    CHECK(strstr(sh_ffi_err_message(), "127.0.0.1:1"));
    sh_ffi_avro_destroy(nowhere);
    sh_registry_stop(reg);
    return check_summary("avro_serde_test");
}
