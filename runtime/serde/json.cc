/*
 * json.cc - lazy reads of JSON objects for the json serde, over simdjson's
 * On-Demand API (libsimdjson, Debian's 3.0).
 *
 * The json serde hands the app a lazy value instead of a decoded table
 * (lua/streamhost/json.lua): a field is looked up here only when the app
 * reads it, and a value the app never changes is written back as its input
 * bytes. One sh_json_t per Lua VM holds a parser and the document it opened
 * last: open runs simdjson's first stage (which indexes every structural
 * character) and a walk over the top-level fields that rejects a malformed
 * object up front, as a full decode would, and keeps where the first
 * fields' keys and values are; field answers a plain scalar (null, boolean,
 * integer of up to 15 digits, string without escapes) from that index and
 * looks anything else up through simdjson in the open document, which
 * cost several times as much per read. Which document is open is the Lua
 * side's to track: it reopens a value's bytes before reading a field of a
 * value other than the last opened.
 *
 * simdjson reads up to SIMDJSON_PADDING bytes past a document's end, which a
 * Kafka message does not have: every document is copied into a padded
 * buffer of the handle's (O(document size)). Strings it returns are valid
 * until the next call on the handle.
 *
 * @locality the thread of the Lua VM that owns the handle
 */
#include <simdjson.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

extern "C" {
#include "base/err.h"
#include "serde/json.h"
}

using namespace simdjson;

/* A top-level field as the walk at open saw it: its key's raw bytes (up to
 * the closing quote), the type of its value and the value's token text
 * (scalars; spaces up to the next token included). */
struct indexed_field {
    const char *key;
    ondemand::json_type type;
    std::string_view token;
};

/* Fields kept per document; a larger object's others are found the slow way. */
#define INDEXED_FIELDS 16

struct sh_json {
    ondemand::parser parser;
    ondemand::document doc;
    ondemand::object object;
    bool open = false; /* object holds a document that opened cleanly */
    char *padded = nullptr;
    size_t padded_cap = 0;
    indexed_field fields[INDEXED_FIELDS];
    size_t indexed = 0;
};

static int decode_error(sh_json_t *j, error_code error) {
    j->open = false;
    return sh_err_set(SH_ERR_DECODE, "%s", error_message(error));
}

/* Opens data as the current document: SH_OK for an object, SH_ERR_INVALID
 * for valid JSON of another type (the caller decodes those fully),
 * SH_ERR_DECODE for bytes that are not JSON. */
static int open_document(sh_json_t *j, const char *data, size_t len) {
    j->open = false;
    if (len + SIMDJSON_PADDING > j->padded_cap) {
        size_t cap = (len + SIMDJSON_PADDING) * 2;
        char *grown = static_cast<char *>(realloc(j->padded, cap));
        if (!grown) return sh_err_set(SH_ERR_NOMEM, "no memory for a %zu-byte JSON value", len);
        j->padded = grown;
        j->padded_cap = cap;
    }
    memcpy(j->padded, data, len);
    memset(j->padded + len, 0, SIMDJSON_PADDING);
    auto error = j->parser.iterate(j->padded, len, j->padded_cap).get(j->doc);
    if (error) return decode_error(j, error);
    ondemand::json_type type;
    if ((error = j->doc.type().get(type))) return decode_error(j, error);
    if (type != ondemand::json_type::object) {
        /* a scalar or an array: whole or malformed, cjson will tell */
        return SH_ERR_INVALID;
    }
    if ((error = j->doc.get_object().get(j->object))) return decode_error(j, error);
    /* Walk the fields once: a truncated or malformed object fails here, at
     * decode time, not at the first read of a field. The walk keeps where
     * each field's key and value are, so that a read finds a plain scalar
     * without walking again (field_fast). O(fields). */
    j->indexed = 0;
    for (auto member : j->object) {
        ondemand::field field;
        if ((error = std::move(member).get(field))) return decode_error(j, error);
        ondemand::value value = field.value();
        ondemand::json_type type;
        if ((error = value.type().get(type))) return decode_error(j, error);
        if (j->indexed < INDEXED_FIELDS)
            j->fields[j->indexed++] = {field.key().raw(), type, value.raw_json_token()};
    }
    /* only white space may follow the object: no token after it */
    if (j->doc.current_location().error() != OUT_OF_BOUNDS)
        return decode_error(j, TRAILING_CONTENT);
    if ((error = j->object.reset().error())) return decode_error(j, error);
    j->open = true;
    return SH_OK;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static std::string_view trimmed(std::string_view token) {
    while (!token.empty() && is_space(token.back())) token.remove_suffix(1);
    return token;
}

/* Whether a field name holds a quote or a backslash (never matched against
 * raw keys). A loop, not two memchr calls: names are short. */
static bool has_quote_or_backslash(const char *name, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (name[i] == '"' || name[i] == '\\') return true;
    return false;
}

/* A JSON integer of at most 15 digits, exact as a double. */
static bool small_integer(std::string_view t, double *out) {
    size_t i = 0;
    bool negative = !t.empty() && t[0] == '-';
    if (negative) i++;
    size_t first = i;
    int64_t n = 0;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; i++) n = n * 10 + (t[i] - '0');
    size_t digits = i - first;
    if (i != t.size() || digits == 0 || digits > 15 || (digits > 1 && t[first] == '0'))
        return false;
    *out = negative ? -(double)n : (double)n;
    return true;
}

/* A field from the walk's index: SH_OK with *out for a null, a boolean, an
 * integer of up to 15 digits or a string without escapes; SH_ERR_NOT_FOUND
 * for anything else (field looks for it the slow way, which also gives the
 * error for a malformed scalar). O(indexed fields). */
static int field_fast(sh_json_t *j, const char *name, size_t name_len,
                      sh_ffi_json_value_t *out) {
    for (size_t i = 0; i < j->indexed; i++) {
        const indexed_field &f = j->fields[i];
        /* the first byte and the closing quote first: most keys differ there */
        if (name_len > 0 && f.key[0] != name[0]) continue;
        if (memcmp(f.key, name, name_len) != 0 || f.key[name_len] != '"') continue;
        std::string_view t = trimmed(f.token);
        switch (f.type) {
        case ondemand::json_type::null:
            if (t != "null") return SH_ERR_NOT_FOUND;
            out->type = SH_JSON_NULL;
            return SH_OK;
        case ondemand::json_type::boolean:
            if (t != "true" && t != "false") return SH_ERR_NOT_FOUND;
            out->type = t[0] == 't' ? SH_JSON_TRUE : SH_JSON_FALSE;
            return SH_OK;
        case ondemand::json_type::number:
            if (!small_integer(t, &out->number)) return SH_ERR_NOT_FOUND;
            out->type = SH_JSON_NUMBER;
            return SH_OK;
        case ondemand::json_type::string:
            if (t.size() < 2 || t.back() != '"' || memchr(t.data(), '\\', t.size()))
                return SH_ERR_NOT_FOUND;
            out->type = SH_JSON_STRING;
            out->str = t.data() + 1;
            out->len = t.size() - 2;
            return SH_OK;
        default:
            return SH_ERR_NOT_FOUND;
        }
    }
    return SH_ERR_NOT_FOUND;
}

extern "C" sh_json_t *sh_ffi_json_new(void) {
    sh_json_t *j = new (std::nothrow) sh_json();
    if (!j) sh_err_set(SH_ERR_NOMEM, "no memory for a JSON parser");
    return j;
}

extern "C" void sh_ffi_json_free(sh_json_t *j) {
    if (!j) return;
    free(j->padded);
    delete j;
}

extern "C" int sh_ffi_json_open(sh_json_t *j, const char *data, size_t len) {
    if (!j || (!data && len)) return sh_err_set(SH_ERR_INVALID, "json_open: no parser or no bytes");
    return open_document(j, data, len);
}

extern "C" int sh_ffi_json_field(sh_json_t *j, const char *name, size_t name_len,
                                 sh_ffi_json_value_t *out) {
    if (!j || !out || (!name && name_len))
        return sh_err_set(SH_ERR_INVALID, "json_field: no parser or no name");
    if (!j->open) return sh_err_set(SH_ERR_INVALID, "json_field: no JSON object is open");
    /* a name with a quote or a backslash is never matched against raw keys */
    if (!has_quote_or_backslash(name, name_len) && field_fast(j, name, name_len, out) == SH_OK)
        return SH_OK;
    ondemand::value value;
    auto error = j->object.find_field_unordered(std::string_view(name, name_len)).get(value);
    if (error == NO_SUCH_FIELD) return SH_ERR_NOT_FOUND;
    if (error) return decode_error(j, error);
    ondemand::json_type type;
    if ((error = value.type().get(type))) return decode_error(j, error);
    std::string_view text;
    switch (type) {
    case ondemand::json_type::null: {
        bool is_null = false;
        if ((error = value.is_null().get(is_null)) || !is_null)
            return decode_error(j, error ? error : INCORRECT_TYPE);
        out->type = SH_JSON_NULL;
        return SH_OK;
    }
    case ondemand::json_type::boolean: {
        bool b = false;
        if ((error = value.get_bool().get(b))) return decode_error(j, error);
        out->type = b ? SH_JSON_TRUE : SH_JSON_FALSE;
        return SH_OK;
    }
    case ondemand::json_type::number:
        if ((error = value.get_double().get(out->number))) return decode_error(j, error);
        out->type = SH_JSON_NUMBER;
        return SH_OK;
    case ondemand::json_type::string:
        if ((error = value.get_string().get(text))) return decode_error(j, error);
        out->type = SH_JSON_STRING;
        break;
    case ondemand::json_type::object: {
        ondemand::object nested;
        if ((error = value.get_object().get(nested)) || (error = nested.raw_json().get(text)))
            return decode_error(j, error);
        out->type = SH_JSON_NESTED;
        break;
    }
    case ondemand::json_type::array: {
        ondemand::array nested;
        if ((error = value.get_array().get(nested)) || (error = nested.raw_json().get(text)))
            return decode_error(j, error);
        out->type = SH_JSON_NESTED;
        break;
    }
    }
    out->str = text.data();
    out->len = text.size();
    return SH_OK;
}

extern "C" int sh_ffi_json_escapes(const char *s, size_t len) {
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c < 32 || c == '"' || c == '\\' || c == 127) return 1;
    }
    return 0;
}
