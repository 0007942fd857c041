/*
 * streamhost_ffi.h - the only contract between the C core and Lua.
 *
 * Lua reaches the core through these declarations and nothing else: the Lua
 * side's ffi.cdef (lua/streamhost/cdefs.lua) is generated from this file at
 * build time, so the two cannot drift. Everything between the CDEF-BEGIN and
 * CDEF-END markers must stay plain C that LuaJIT's ffi.cdef accepts (no
 * preprocessor lines inside).
 *
 * Shape of the record path: C owns the poll loop, lays a batch of input
 * records out as an array of sh_ffi_record_t and calls Lua once per batch;
 * Lua decodes, runs the topology and emits outputs with sh_ffi_sink_emit.
 * Sinks are registered by name and addressed by index, so a Kafka topic, the
 * test driver's capture buffer, or later a MySQL table are the same to Lua.
 *
 * Names: sh_ffi_<subsystem>_<verb>, the subsystem being the handle the
 * function takes (ctx, source, sink, store, window, store_iter) or the
 * service it is (err, log, clock, topic).
 *
 * Errors, one idiom for every function:
 *   - a function that can fail returns an sh_err_t (SH_OK on success), or
 *     for those that make something, an index >= 0 / a handle, and -1 / NULL
 *     on failure;
 *   - every failure also leaves its code and a sentence saying what failed
 *     and where as the calling thread's last error: sh_ffi_err_code() and
 *     sh_ffi_err_message(), valid until the thread's next failing call
 *     (success does not clear them);
 *   - SH_ERR_NOT_FOUND from a get or a next is an answer (no such key, no
 *     more entries), not a failure, and leaves the last error alone;
 *   - Lua compares codes by name (C.SH_OK, C.SH_ERR_NOT_FOUND), never by
 *     number. The codes are listed once, in runtime/base/errors.h.
 *
 * Threads, as librdkafka's docs: @locality says which thread may call a
 * function, @locks which lock the caller must hold (or that the function
 * takes itself). A context and everything it declares belong to the one
 * thread that runs its VM: a stream thread in the host, the caller's thread
 * in the test driver. Unless said otherwise a function takes no lock.
 *
 * Structs only grow: fields are appended, never reordered or removed.
 */
#ifndef STREAMHOST_FFI_H
#define STREAMHOST_FFI_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SH_FFI_EXPORT __attribute__((visibility("default")))
#else
#define SH_FFI_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* CDEF-BEGIN */
/* The same list as runtime/base/errors.h, which says what each code means
 * and whether it is retriable or fatal; err.c fails to compile when the two
 * disagree. Codes are appended, never renumbered. */
typedef enum sh_err {
    SH_OK = 0,
    SH_ERR_INVALID = 1,
    SH_ERR_NOMEM = 2,
    SH_ERR_QUEUE_FULL = 3,
    SH_ERR_KAFKA = 4,
    SH_ERR_STORE = 5,
    SH_ERR_NOT_FOUND = 6,
    SH_ERR_LUA = 7,
    SH_ERR_DECODE = 8,
    SH_ERR_FATAL = 9,
    SH_ERR_MYSQL = 10,
    SH_ERR_MYSQL_TRANSIENT = 11,
    SH_ERR__COUNT = 12
} sh_err_t;

typedef struct sh_ffi_header {
    const char *name;
    const char *value; /* NULL: header with a null value */
    size_t value_len;
} sh_ffi_header_t;

/* One input record as Lua sees it. key/value NULL mean null (a tombstone for
 * a value). The memory belongs to C and is valid for the duration of the
 * batch call only. */
typedef struct sh_ffi_record {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t timestamp; /* ms since the epoch */
    int64_t offset;
    int32_t partition;
    int32_t source; /* index returned by sh_ffi_source_add */
    const sh_ffi_header_t *headers;
    int32_t header_count;
    /* ---- appended for sources whose records name their own topic (MySQL
     * CDC: <prefix>.<db>.<table>); NULL: the topic is the source's name ---- */
    const char *topic;
    size_t topic_len;
    /* ---- appended for sources that know their records' schemas (MySQL
     * CDC): {"key": <Avro schema or null>, "value": <Avro schema>} as JSON,
     * the same pointer for every record of one table definition; NULL:
     * none ---- */
    const char *schema;
    size_t schema_len;
} sh_ffi_record_t;

/* The processing context of one Lua VM: its declared sources and sinks and
 * where emitted records go. The host makes one per VM; the test driver makes
 * its own, whose sinks capture records in memory. */
typedef struct sh_ctx sh_ctx_t;

/* ---- Errors (base/err.c) ----
 * @locality any thread. name: "SH_ERR_NOT_FOUND"; describe: "not found";
 * both answer SH_ERR_UNKNOWN / "unknown error code" for a code out of range.
 * is_retriable: 1 when retrying the same call later may succeed (the
 * producer queue was full); is_fatal: 1 when the instance cannot go on. */
const char *sh_ffi_err_name(int code);
const char *sh_ffi_err_describe(int code);
int sh_ffi_err_is_retriable(int code);
int sh_ffi_err_is_fatal(int code);
/* The calling thread's last failure: its code (SH_OK before any) and what
 * failed, where (""). Thread-local: a stream thread never sees another's. */
int sh_ffi_err_code(void);
const char *sh_ffi_err_message(void);

/* ---- Contexts (engine/ctx.c) ----
 * @locality the thread that runs the context's VM, one at a time. */
sh_ctx_t *sh_ffi_ctx_new_capture(void);
void sh_ffi_ctx_destroy(sh_ctx_t *ctx);

/* Declares an input topic; returns its index (>= 0), or -1 (SH_ERR_INVALID
 * for an empty name, SH_ERR_NOMEM). Declaring the same topic twice returns
 * the same index. */
int sh_ffi_source_add(sh_ctx_t *ctx, const char *topic);
int sh_ffi_source_count(sh_ctx_t *ctx);
const char *sh_ffi_source_name(sh_ctx_t *ctx, int source);

/* Declares an output; partitions <= 0 means "whatever the topic has".
 * Returns its index, or -1 as sh_ffi_source_add. */
int sh_ffi_sink_add(sh_ctx_t *ctx, const char *topic, int partitions);
int sh_ffi_sink_count(sh_ctx_t *ctx);
const char *sh_ffi_sink_name(sh_ctx_t *ctx, int sink);

/* Emits one record to a sink. partition < 0 lets the sink choose by key
 * (murmur2, as the Java client). The bytes are copied. SH_OK;
 * SH_ERR_INVALID for an unknown sink or a malformed header list; from the
 * host's Kafka sink, SH_ERR_QUEUE_FULL (retriable), SH_ERR_KAFKA or
 * SH_ERR_FATAL as librdkafka says.
 * @locality the context's stream thread, inside a batch call (or a timer).
 * @locks none held by the caller; the host's sink is librdkafka's
 * thread-safe producer. */
int sh_ffi_sink_emit(sh_ctx_t *ctx, int sink, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp, int32_t partition,
                     const sh_ffi_header_t *headers, int32_t header_count);

/* Capture contexts (the test driver): takes the oldest record emitted to a
 * sink. SH_OK and *out (valid until the next call on this ctx),
 * SH_ERR_NOT_FOUND when the sink holds none, SH_ERR_INVALID for an unknown
 * sink. */
int sh_ffi_sink_capture_next(sh_ctx_t *ctx, int sink, sh_ffi_record_t *out);

/* Logging through the host's logger: level 0 error, 1 warn, 2 info, 3 debug.
 * @locality any thread; one line is written whole. */
void sh_ffi_log_write(int level, const char *message);
/* Wall-clock time, ms since the epoch. @locality any thread. */
int64_t sh_ffi_clock_now_ms(void);

/* Reload version in force for this VM (0 before the first load). */
int sh_ffi_ctx_version(sh_ctx_t *ctx);
/* Write-back caches (store.lua): hold says the batch being run leaves state
 * changes in a cache, not yet written to their store and changelog; release
 * says this batch's outputs now carry every cached change of the batches
 * before it (a flush). The host acks no position of a held batch until the
 * outputs of a later releasing batch are delivered. */
void sh_ffi_ctx_hold(sh_ctx_t *ctx);
void sh_ffi_ctx_release(sh_ctx_t *ctx);
/* Waits until every output this context's host has emitted so far is
 * delivered: a flush calls it before it writes a store or its changelog, so
 * that a crash never leaves state ahead of the outputs that came before it
 * (their records, read again, are taken for replays and not sent again).
 * SH_OK at once without a host (the test driver's capture). */
int sh_ffi_ctx_drain(sh_ctx_t *ctx);

/* Where this context's stores live: the host sets --state-dir (default
 * ./.streamhost/<id>), the test driver a temporary directory. */
const char *sh_ffi_ctx_state_dir(sh_ctx_t *ctx);
void sh_ffi_ctx_set_state_dir(sh_ctx_t *ctx, const char *dir);

/* Declares a state store of the topology, so the host can restore it when a
 * partition of source_topic (the topic whose records update it: a source or
 * repartition topic) is assigned, and serve it over HTTP. key_serde and
 * value_serde name the formats of its keys and values (json, string, int,
 * long, bytes). Returns the store's index, or -1 (SH_ERR_INVALID for a
 * missing name, topic or serde; SH_ERR_NOMEM). */
int sh_ffi_store_declare(sh_ctx_t *ctx, const char *name, int kind, int64_t retention_ms,
                         const char *source_topic, const char *key_serde, const char *value_serde);
int sh_ffi_store_count(sh_ctx_t *ctx);
/* Records a declared window store's window size (ms), so pull queries can
 * report each window's end (start + size). SH_OK, or SH_ERR_NOT_FOUND for
 * an undeclared store. */
int sh_ffi_store_set_window_size(sh_ctx_t *ctx, const char *name, int64_t size_ms);
/* Marks a declared window store as a session store: each entry is keyed by
 * its session's end and its value is {"s": start, "a": aggregate}, so pull
 * queries report the session's start and end. SH_OK, or SH_ERR_NOT_FOUND. */
int sh_ffi_store_set_sessions(sh_ctx_t *ctx, const char *name);
/* Internal topics, named in one place (base/topic_name.c). @locality any
 * thread. */
enum { SH_TOPIC_SOURCE = 0, SH_TOPIC_CHANGELOG = 1, SH_TOPIC_REPARTITION = 2, SH_TOPIC_DLQ = 3 };
/* Writes the name of the app's topic of kind (name: the store or
 * repartition name; ignored for the DLQ) into out. SH_OK, or SH_ERR_INVALID
 * when out_len is too small or kind is not an internal kind. */
int sh_ffi_topic_name(const char *app_id, int kind, const char *name, char *out, size_t out_len);

/* ---- State stores (store.c, window_store.c) ----
 * One RocksDB instance per (store, task partition), under
 * <state_dir>/<name>/<partition>/. Every write is also emitted to the sink
 * "<app_id>-<name>-changelog" on the task's partition (app_id NULL: no
 * changelog). A failure's message names the store and partition.
 *
 * @locality a handle is used by one thread at a time: the stream thread that
 * owns the task, or the HTTP thread reading it for a pull query.
 * @locks the host's stream thread holds the tasks lock (sh_tasks_lock)
 * around each batch and the HTTP thread takes it to read, so the two never
 * use a handle at once; open, close and iterators take the store registry
 * lock themselves. Never call these with another lock held. */
typedef struct sh_store sh_store_t;
typedef struct sh_store_iter sh_store_iter_t;

/* Bytes owned by C, valid until the next call on the handle that filled them. */
typedef struct sh_ffi_slice {
    const char *data;
    size_t len;
} sh_ffi_slice_t;

enum { SH_STORE_KV = 0, SH_STORE_WINDOW = 1 };

/* Returns NULL on failure (SH_ERR_INVALID, SH_ERR_NOMEM, SH_ERR_STORE).
 * retention_ms (window stores: size + grace) is ignored for key-value stores.
 * Opening a store that is already open (a reloaded VM) shares its database. */
sh_store_t *sh_ffi_store_open(sh_ctx_t *ctx, const char *state_dir, const char *app_id,
                              const char *name, int kind, int32_t partition, int64_t retention_ms);
void sh_ffi_store_close(sh_store_t *store);

/* Key-value stores. get: SH_OK and *out, or SH_ERR_NOT_FOUND.
 * put: value NULL deletes; timestamp stamps the changelog record. */
int sh_ffi_store_get(sh_store_t *store, const char *key, size_t key_len, sh_ffi_slice_t *out);
int sh_ffi_store_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp);
/* put_many: count puts of distinct keys (each record's key, value or NULL
 * to delete, and timestamp; other fields unused), emitted to the changelog
 * in the keys' byte order, then written in one RocksDB write batch: the
 * record cache's flush. When an emit is refused, the records before it are
 * written and the error returned; putting all of them again is harmless.
 * O(count log count). */
int sh_ffi_store_put_many(sh_store_t *store, const sh_ffi_record_t *records, int count);

/* Window stores, keyed by (key, window start). timestamp is the record's and
 * advances the store's stream time; a window that starts at or before
 * stream time - retention is expired: put skips it (counted), get and fetch
 * do not see it. */
int sh_ffi_window_get(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      sh_ffi_slice_t *out);
int sh_ffi_window_put(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      const char *value, size_t value_len, int64_t timestamp);
/* sh_ffi_window_put for each record (key, value, timestamp; value NULL
 * deletes) at window start starts[i], in one write batch; on a failure, the
 * records the changelog took are written. */
int sh_ffi_window_put_many(sh_store_t *store, const sh_ffi_record_t *records,
                           const int64_t *starts, int count);
int64_t sh_ffi_store_stream_time(sh_store_t *store);
int64_t sh_ffi_store_expired_count(sh_store_t *store);

/* Iterators see the store as it was when they were made. fetch: one key's
 * windows with from <= start <= to, ordered by start. iter_all: every entry,
 * in key order (window stores: by time segment, then key, then start),
 * starting after (after_key, after_start) when after_key is not NULL; NULL
 * on failure. next: SH_OK and the entry (window_start may be NULL),
 * SH_ERR_NOT_FOUND at the end. Note that draining iter_all is O(entries):
 * page with after_key rather than hold the tasks lock for a whole store. */
sh_store_iter_t *sh_ffi_window_fetch(sh_store_t *store, const char *key, size_t key_len,
                                     int64_t from, int64_t to);
sh_store_iter_t *sh_ffi_store_iter_all(sh_store_t *store, const char *after_key, size_t after_len,
                                       int64_t after_start);
int sh_ffi_store_iter_next(sh_store_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                           int64_t *window_start);
void sh_ffi_store_iter_destroy(sh_store_iter_t *iter);

/* ---- Lazy JSON values (serde/json.cc, over simdjson On-Demand) ----
 * The json serde reads a field of an object value only when the app does.
 * open: parses data (copied: it need not outlive the call) as the handle's
 * current document; SH_OK for an object, SH_ERR_INVALID for valid JSON that
 * is not an object, SH_ERR_DECODE (with the message) for bytes that are not
 * JSON. field: one field of the current document: SH_OK and *out,
 * SH_ERR_NOT_FOUND for a missing field, SH_ERR_DECODE for a malformed one,
 * SH_ERR_INVALID when no document is open. A string's bytes (unescaped) and
 * a nested object's or array's JSON text are valid until the next call.
 * @locality one thread at a time: one handle per Lua VM */
typedef struct sh_json sh_json_t;
enum {
    SH_JSON_NULL = 0,
    SH_JSON_TRUE = 1,
    SH_JSON_FALSE = 2,
    SH_JSON_NUMBER = 3,
    SH_JSON_STRING = 4,
    SH_JSON_NESTED = 5 /* an object or an array: str/len is its JSON text */
};
typedef struct sh_ffi_json_value {
    int type;
    double number;
    const char *str;
    size_t len;
} sh_ffi_json_value_t;
sh_json_t *sh_ffi_json_new(void);
void sh_ffi_json_free(sh_json_t *json);
int sh_ffi_json_open(sh_json_t *json, const char *data, size_t len);
int sh_ffi_json_field(sh_json_t *json, const char *name, size_t name_len,
                      sh_ffi_json_value_t *out);
/* 1 when s holds a byte that a JSON string must escape (a control
 * character, '"', '\\', DEL), else 0: the encoder's check, in C so that it
 * is no loop in the traces around it. O(len). Any thread. */
int sh_ffi_json_escapes(const char *s, size_t len);

/* ---- MySQL (runtime/mysql/) ----
 * Sinks of other kinds. stream:to_mysql declares a sink (sh_ffi_sink_add)
 * named "mysql:<table>", sets its kind to "mysql" and gives it the JDBC
 * sink's properties (connection.url, insert.mode, ...); the host routes the
 * records of such a sink to the MySQL backend. Each record's value is one
 * row in the text form runtime/mysql/sink_row.h describes. SH_OK, or
 * SH_ERR_INVALID (unknown sink, NULL argument) / SH_ERR_NOMEM.
 * @locality the context's thread, while the topology is built. */
int sh_ffi_sink_set_kind(sh_ctx_t *ctx, int sink, const char *kind);
int sh_ffi_sink_set_property(sh_ctx_t *ctx, int sink, const char *key, const char *value);

/* SQL from Lua through a connection C owns (the orders application). open
 * parses the URL (jdbc:mysql://host:port/db or mysql://user:pw@host:port/db;
 * user and password may be NULL override the URL's) and connects on first
 * use: NULL for a malformed URL (SH_ERR_INVALID) or SH_ERR_NOMEM. Every call
 * connects first when the connection is not up (or was lost). Failures
 * return -1 / NULL with the last error: SH_ERR_MYSQL_TRANSIENT (retriable:
 * connection refused or lost, deadlock, lock wait timeout; the connection
 * is dropped and the next call makes a new one) or SH_ERR_MYSQL (the
 * statement is wrong for the server: syntax, constraint, bad value).
 * Nothing is retried inside: only the caller knows whether running a
 * statement again is harmless. Parameters bind to '?' in order, as text
 * (data NULL: SQL NULL); values never become SQL text. Results are read
 * whole into C, converted to text, and freed in C.
 * @locality one thread at a time per handle. */
typedef struct sh_mysql sh_mysql_t;
typedef struct sh_mysql_result sh_mysql_result_t;
sh_mysql_t *sh_ffi_mysql_open(const char *url, const char *user, const char *password);
void sh_ffi_mysql_close(sh_mysql_t *db);
/* SH_OK when connected (now or already). */
int sh_ffi_mysql_connect(sh_mysql_t *db);
/* Runs one statement; returns the rows it affected (>= 0), or -1. */
int64_t sh_ffi_mysql_exec(sh_mysql_t *db, const char *sql, const sh_ffi_slice_t *params,
                          int param_count);
/* The AUTO_INCREMENT id the last exec generated (0: none). */
int64_t sh_ffi_mysql_insert_id(sh_mysql_t *db);
/* Runs a query; its rows are read with next_row. NULL on failure. */
sh_mysql_result_t *sh_ffi_mysql_query(sh_mysql_t *db, const char *sql, const sh_ffi_slice_t *params,
                                      int param_count);
int sh_ffi_mysql_result_columns(sh_mysql_result_t *result);
const char *sh_ffi_mysql_result_column_name(sh_mysql_result_t *result, int column);
/* How Lua should read a column's text: 0 string, 1 integer, 2 float. */
int sh_ffi_mysql_result_column_kind(sh_mysql_result_t *result, int column);
/* Fills values[0..columns) with the next row (data NULL: SQL NULL), valid
 * until the next call. SH_OK for a row, SH_ERR_NOT_FOUND at the end. */
int sh_ffi_mysql_next_row(sh_mysql_result_t *result, sh_ffi_slice_t *values);
void sh_ffi_mysql_result_free(sh_mysql_result_t *result);
/* ---- Avro (runtime/serde/) ----
 * The Confluent wire format: magic byte 0, the writer schema's id as 4
 * bytes big-endian, then Avro binary. A handle belongs to one Lua VM; it
 * fetches each writer schema once per id from its registry and keeps it.
 *
 * Values cross the boundary as a flat array of sh_ffi_avro_value_t in
 * depth-first order: a RECORD, ARRAY or MAP node says in `integer` how many
 * children follow; a record's children carry their field's name id (the
 * text from sh_ffi_avro_name, stable for the handle's life); a map's
 * children are (STRING key, value) pairs. Decoding fills one such array
 * per record, owned by the handle and valid until its next call; strings
 * point into the input or the handle. Encoding reads one Lua fills in,
 * where a record is a MAP, and matches it against the writer schema. */
typedef struct sh_avro sh_avro_t;

enum {
    SH_AVRO_V_NULL = 0,
    SH_AVRO_V_BOOLEAN = 1, /* integer 0 or 1 */
    SH_AVRO_V_INTEGER = 2, /* integer */
    SH_AVRO_V_NUMBER = 3,  /* number */
    SH_AVRO_V_STRING = 4,  /* data, len */
    SH_AVRO_V_RECORD = 5,
    SH_AVRO_V_ARRAY = 6,
    SH_AVRO_V_MAP = 7
};

typedef struct sh_ffi_avro_value {
    int32_t kind;
    int32_t name; /* a record field's name id, else -1 */
    int64_t integer;
    double number;
    const char *data;
    size_t len;
} sh_ffi_avro_value_t;

/* registry_url: "http://HOST:PORT" of any Confluent-compatible registry.
 * Failures leave their reason in the thread's last error, as everywhere.
 * @locality the thread that runs the handle's Lua VM */
sh_avro_t *sh_ffi_avro_new(const char *registry_url);
void sh_ffi_avro_destroy(sh_avro_t *avro);

/* Decodes one framed record. SH_OK with *values and *count; SH_ERR_DECODE
 * (bad magic byte, truncated or trailing bytes, a value its schema does
 * not allow, a registry that does not answer) or SH_ERR_NOT_FOUND (an id
 * the registry does not have). */
int sh_ffi_avro_decode(sh_avro_t *avro, const char *data, size_t len,
                       const sh_ffi_avro_value_t **values, int32_t *count);
const char *sh_ffi_avro_name(sh_avro_t *avro, int32_t name);

/* A writer: schema (Avro JSON) registered under subject, once per
 * (subject, schema) for the handle's life. Returns its index (>= 0), or -1
 * (SH_ERR_INVALID) with the registry's reason: an incompatible change
 * names the subject, the field and the rule. */
int sh_ffi_avro_writer(sh_avro_t *avro, const char *subject, const char *schema);
/* The schema text of subject's latest registered version (owned by the
 * handle, valid until its next call), or NULL: SH_ERR_NOT_FOUND when the
 * subject has no version, else SH_ERR_INVALID with the registry's reason.
 * A derived writer schema keeps the types the subject registered. */
const char *sh_ffi_avro_latest(sh_avro_t *avro, const char *subject);
/* The registry's id of a writer's schema, or -1. */
int32_t sh_ffi_avro_writer_id(sh_avro_t *avro, int writer);
/* Encodes values with a writer into the framed bytes in *out (owned by the
 * handle, valid until its next call). SH_ERR_INVALID when the values do not
 * fit the schema, the message naming the field. */
int sh_ffi_avro_encode(sh_avro_t *avro, int writer, const sh_ffi_avro_value_t *values,
                       int32_t count, sh_ffi_slice_t *out);

/* The writer schema (compact JSON) of an id this handle has decoded, or NULL:
 * a derived output schema keeps the types of the input's fields. */
const char *sh_ffi_avro_schema_text(sh_avro_t *avro, int32_t id);

/* The Schema Registry an Avro serde uses: `--set schema.registry.url=`,
 * else app_url (the app's kafka table; may be NULL), else the registry
 * `streamhost run` started beside its embedded broker, else (the test
 * driver) a memory-only one started on first use. NULL when there is none:
 * `run` against a real cluster without a URL.
 * @locality any thread  @locks takes the registry lock */
const char *sh_ffi_registry_url(const char *app_url);

/* ---- A compacted topic as a small table (kafka/topic_table.c), for
 * `streamhost connect`'s connect-configs, connect-status and
 * connect-offsets: one partition, the latest record of a key its value, a
 * NULL value a tombstone. open creates the topic when missing (compacted;
 * on the embedded broker through its creation requests); NULL with the
 * last error. read consumes the topic from the beginning to its end into
 * copies C owns (O(records), which compaction bounds): SH_OK, or
 * SH_ERR_KAFKA when its end was not reached in 15 s. record fills key and
 * value (data NULL: a tombstone) of the i-th record read, valid until the
 * next read or close. write produces one record (value NULL: a tombstone)
 * and waits up to timeout_ms for the broker's ack: SH_OK or SH_ERR_KAFKA.
 * @locality one thread at a time per handle ---- */
typedef struct sh_topic_table sh_topic_table_t;
sh_topic_table_t *sh_ffi_topic_table_open(const char *bootstrap, const char *topic);
void sh_ffi_topic_table_close(sh_topic_table_t *t);
int sh_ffi_topic_table_read(sh_topic_table_t *t);
int sh_ffi_topic_table_count(const sh_topic_table_t *t);
int sh_ffi_topic_table_record(const sh_topic_table_t *t, int i, sh_ffi_slice_t *key,
                              sh_ffi_slice_t *value);
int sh_ffi_topic_table_write(sh_topic_table_t *t, const char *key, const char *value,
                             size_t value_len, int timeout_ms);
/* CDEF-END */

#ifdef __cplusplus
}
#endif

#endif
