/*
 * order.h - merges a batch's records across partitions by timestamp
 * (order.c), as Kafka Streams' record selection does: the earliest head
 * first, each partition keeping its own order.
 */
#ifndef SH_ORDER_H
#define SH_ORDER_H

#include "streamhost_ffi.h"

typedef struct sh_order sh_order_t;

/* Scratch for batches of up to max records (one per stream thread). */
sh_order_t *sh_order_new(int max);
void sh_order_free(sh_order_t *order);
/* Reorders records[0..n) in place. O(n * partitions in the batch). */
void sh_order_by_time(sh_order_t *order, sh_ffi_record_t *records, int n);

#endif
