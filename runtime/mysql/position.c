/*
 * position.c - a CDC position as stored in the offsets topic (cdc.h): the
 * JSON Kafka Connect keeps for a Debezium MySQL source, so the stored
 * positions read as a Debezium user expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/cdc.h"
#include "mysql/text.h"

char *sh_cdc_position_json(const sh_cdc_position_t *p) {
    sh_text_t t = {0};
    sh_text_adds(&t, "{\"file\":");
    sh_text_json_string(&t, p->file, strlen(p->file));
    sh_text_addf(&t, ",\"pos\":%llu,\"row\":%u,\"gtids\":", (unsigned long long)p->pos, p->row);
    sh_text_json_string(&t, p->gtid, strlen(p->gtid));
    sh_text_addf(&t, ",\"snapshot\":%s}", p->snapshot ? "true" : "false");
    return sh_text_take(&t);
}

/* Reads back what sh_cdc_position_json wrote; binlog file names and GTIDs
 * hold no quotes or escapes. */
bool sh_cdc_position_parse(const char *json, sh_cdc_position_t *p) {
    *p = (sh_cdc_position_t){0};
    const char *f = strstr(json, "\"file\":\""), *pos = strstr(json, "\"pos\":");
    if (!f || !pos) return false;
    sscanf(f + 8, "%127[^\"]", p->file);
    p->pos = strtoull(pos + 6, NULL, 10);
    const char *row = strstr(json, "\"row\":"), *gtid = strstr(json, "\"gtids\":\"");
    if (row) p->row = (uint32_t)strtoul(row + 6, NULL, 10);
    if (gtid) sscanf(gtid + 9, "%63[^\"]", p->gtid);
    p->snapshot = strstr(json, "\"snapshot\":true") != NULL;
    return p->file[0] != '\0';
}
