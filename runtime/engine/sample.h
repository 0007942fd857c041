/*
 * sample.h - a few recent input records, copied (sample.c): what a reload
 * tries a new version on before it takes over.
 */
#ifndef SH_SAMPLE_H
#define SH_SAMPLE_H

#include "streamhost_ffi.h"

typedef struct sh_sample sh_sample_t;

sh_sample_t *sh_sample_new(int max);
void sh_sample_free(sh_sample_t *sample);
/* Keeps copies of the last max of records[0..n) (bytes, headers and all),
 * dropping what it held. O(bytes copied). */
void sh_sample_take(sh_sample_t *sample, const sh_ffi_record_t *records, int n);
/* The records held, valid until the next take. */
const sh_ffi_record_t *sh_sample_records(const sh_sample_t *sample, int *n);

#endif
