/*
 * kafka_test.c - librdkafka's errors as sh_err_t codes: retriable and fatal
 * stay apart, and the message says what failed and why.
 */
#include <string.h>

#include "kafka/kafka.h"

#include "base/check.h"

static void test_error_codes(void) {
    CHECK(sh_kafka_error(NULL, RD_KAFKA_RESP_ERR__QUEUE_FULL, "produce to clicks") ==
          SH_ERR_QUEUE_FULL);
    CHECK(sh_ffi_err_is_retriable(sh_ffi_err_code()));
    CHECK(strncmp(sh_ffi_err_message(), "produce to clicks: ", 19) == 0);

    CHECK(sh_kafka_error(NULL, RD_KAFKA_RESP_ERR__FATAL, "produce to clicks") == SH_ERR_FATAL);
    CHECK(sh_ffi_err_is_fatal(sh_ffi_err_code()) && !sh_ffi_err_is_retriable(sh_ffi_err_code()));

    CHECK(sh_kafka_error(NULL, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "produce to clicks") ==
          SH_ERR_KAFKA);
    CHECK(!sh_ffi_err_is_fatal(SH_ERR_KAFKA) && !sh_ffi_err_is_retriable(SH_ERR_KAFKA));
    CHECK(strstr(sh_ffi_err_message(), rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)));
}

int main(void) {
    test_error_codes();
    return check_summary("kafka_test");
}
