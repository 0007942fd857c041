/*
 * error_test.c - librdkafka's errors as sh_err_t codes: retriable and fatal
 * stay apart.
 */
#include "kafka/error.h"

#include "base/check.h"

static void test_error_codes(void) {
    CHECK(sh_kafka_err_code(RD_KAFKA_RESP_ERR_NO_ERROR) == SH_OK);
    CHECK(sh_kafka_err_code(RD_KAFKA_RESP_ERR__QUEUE_FULL) == SH_ERR_QUEUE_FULL);
    CHECK(sh_ffi_err_is_retriable(SH_ERR_QUEUE_FULL) && !sh_ffi_err_is_fatal(SH_ERR_QUEUE_FULL));
    CHECK(sh_kafka_err_code(RD_KAFKA_RESP_ERR__FATAL) == SH_ERR_FATAL);
    CHECK(sh_ffi_err_is_fatal(SH_ERR_FATAL) && !sh_ffi_err_is_retriable(SH_ERR_FATAL));
    CHECK(sh_kafka_err_code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) == SH_ERR_KAFKA);
    CHECK(!sh_ffi_err_is_fatal(SH_ERR_KAFKA) && !sh_ffi_err_is_retriable(SH_ERR_KAFKA));
}

int main(void) {
    test_error_codes();
    return check_summary("kafka_error_test");
}
