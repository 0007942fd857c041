/*
 * errors.h - every sh_err_t code, written once (as LuaJIT's lj_errmsg.h).
 *
 * SH_ERRDEF(name, class, description): the code's enumerator, whether a
 * failure with it is worth retrying, and what it means. err.c expands this
 * list into sh_ffi_err_name, sh_ffi_err_describe and the class predicates,
 * and asserts at compile time that sh_err_t in streamhost_ffi.h (which Lua's
 * ffi.cdef needs as plain C) lists the same codes in the same order. To add
 * a code: append it here and to sh_err_t, before SH_ERR__COUNT; codes are
 * never renumbered.
 *
 * class, as librdkafka's rd_kafka_error_is_retriable / _is_fatal:
 *   plain      the operation failed; retrying it unchanged fails again
 *   retriable  a transient condition (backpressure): poll, then retry
 *   fatal      the instance cannot go on (librdkafka's fatal error, e.g. a
 *              fenced transactional producer); stop and restart
 *
 * No include guard: each includer defines SH_ERRDEF, includes this file,
 * and undefines it.
 */
SH_ERRDEF(SH_OK, plain, "success")
SH_ERRDEF(SH_ERR_INVALID, plain, "invalid argument")
SH_ERRDEF(SH_ERR_NOMEM, plain, "out of memory")
SH_ERRDEF(SH_ERR_QUEUE_FULL, retriable, "producer queue is full")
SH_ERRDEF(SH_ERR_KAFKA, plain, "Kafka client error")
SH_ERRDEF(SH_ERR_STORE, plain, "state store error")
SH_ERRDEF(SH_ERR_NOT_FOUND, plain, "not found")
SH_ERRDEF(SH_ERR_LUA, plain, "Lua function raised an error")
SH_ERRDEF(SH_ERR_DECODE, plain, "record did not decode")
SH_ERRDEF(SH_ERR_FATAL, fatal, "fatal client error")
SH_ERRDEF(SH_ERR_MYSQL, plain, "MySQL refused the statement")
SH_ERRDEF(SH_ERR_MYSQL_TRANSIENT, retriable, "MySQL connection lost or refused, or a deadlock")
