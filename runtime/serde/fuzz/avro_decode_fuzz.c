/*
 * avro_decode_fuzz.c - libFuzzer target for the Avro decoder (`make fuzz`,
 * built with clang -fsanitize=fuzzer,address,undefined). The first byte
 * picks a writer schema (every type, logical types, a recursive record);
 * the rest is the body. A decode may fail; it must never read out of
 * bounds, leak, loop for ever or crash. Also fuzzed: the schema compiler,
 * with the input as schema text (a registry reads schemas from clients).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_codec.h"

static const char *schemas[] = {
    "\"null\"",
    "\"boolean\"",
    "\"int\"",
    "\"long\"",
    "\"float\"",
    "\"double\"",
    "\"bytes\"",
    "\"string\"",
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"},"
    "{\"name\":\"s\",\"type\":[\"null\",\"string\",\"double\"]},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"int\"}}}"
    ","
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}}]}",
    "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}",
    "{\"type\":\"array\",\"items\":\"null\"}",
    "{\"type\":\"map\",\"values\":\"boolean\"}",
    "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":40,\"scale\":5}",
    "{\"type\":\"fixed\",\"name\":\"D\",\"size\":16,\"logicalType\":\"decimal\",\"precision\":30,"
    "\"scale\":3}",
    "{\"type\":\"int\",\"logicalType\":\"date\"}",
    "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
    "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":"
    "[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}]}}}",
};
#define SCHEMA_COUNT (sizeof schemas / sizeof *schemas)

static sh_avro_schema_t *compiled[SCHEMA_COUNT];
static sh_avro_tape_t tape;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char err[512];
    if (data[0] == 0xff) { /* the schema compiler */
        sh_avro_schema_t *s =
            sh_avro_schema_parse((const char *)data + 1, size - 1, err, sizeof err);
        sh_avro_schema_free(s);
        return 0;
    }
    size_t which = data[0] % SCHEMA_COUNT;
    if (!compiled[which]) {
        compiled[which] =
            sh_avro_schema_parse(schemas[which], strlen(schemas[which]), err, sizeof err);
        if (!compiled[which]) abort();
    }
    /* a copy of exactly the body, so ASan sees a read past its end */
    char *body = malloc(size - 1 ? size - 1 : 1);
    memcpy(body, data + 1, size - 1);
    sh_avro_decode(compiled[which], body, size - 1, &tape, err, sizeof err);
    free(body);
    return 0;
}
