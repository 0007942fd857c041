/*
 * json.h - lazy reads of JSON objects (json.cc, over simdjson On-Demand).
 * The calls themselves are part of the FFI surface (streamhost_ffi.h,
 * "Lazy JSON values"); this header is what C and C++ code include.
 */
#ifndef SH_SERDE_JSON_H
#define SH_SERDE_JSON_H

#include "streamhost_ffi.h"

#endif
