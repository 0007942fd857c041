/*
 * err.c - names and descriptions of sh_err_t codes, one table so the two
 * never disagree.
 */
#include "streamhost_ffi.h"

static const struct {
    const char *name, *description;
} errors[SH_ERR__COUNT] = {
    [SH_OK] = {"SH_OK", "success"},
    [SH_ERR_INVALID] = {"SH_ERR_INVALID", "invalid argument"},
    [SH_ERR_NOMEM] = {"SH_ERR_NOMEM", "out of memory"},
    [SH_ERR_QUEUE_FULL] = {"SH_ERR_QUEUE_FULL", "producer queue is full"},
    [SH_ERR_KAFKA] = {"SH_ERR_KAFKA", "Kafka client error"},
    [SH_ERR_STORE] = {"SH_ERR_STORE", "state store error"},
    [SH_ERR_NOT_FOUND] = {"SH_ERR_NOT_FOUND", "not found"},
    [SH_ERR_LUA] = {"SH_ERR_LUA", "Lua function raised an error"},
    [SH_ERR_DECODE] = {"SH_ERR_DECODE", "record did not decode"},
};

const char *sh_ffi_err_name(int err) {
    if (err < 0 || err >= SH_ERR__COUNT) return "SH_ERR_UNKNOWN";
    return errors[err].name;
}

const char *sh_ffi_err_describe(int err) {
    if (err < 0 || err >= SH_ERR__COUNT) return "unknown error code";
    return errors[err].description;
}
