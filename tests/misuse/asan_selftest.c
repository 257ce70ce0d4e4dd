/* Checks the sanitizer setup of tests/misuse: a caller that lies about a
 * sized struct (struct_size larger than the block it allocated) makes the
 * Go -asan library read beyond the block, which AddressSanitizer must
 * report from inside the library. CTest expects the report
 * (PASS_REGULAR_EXPRESSION); a library built without -asan prints
 * "not caught" instead. Deliberately wrong use of the API: not an example. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gowt.h"

int main(void) {
    size_t n = offsetof(gowt_config, www_dir) + sizeof(const char *); /* 0.1.0 layout */
    unsigned char *block = calloc(1, n);
    uint32_t lie = (uint32_t)sizeof(gowt_config); /* larger than the block */
    if (!block) return 2;
    memcpy(block, &lie, sizeof lie);
    gowt_ctx *ctx = NULL;
    int rc = gowt_ctx_create((const gowt_config *)(void *)block, &ctx);
    printf("not caught: gowt_ctx_create = %d\n", rc);
    if (rc == GOWT_OK) gowt_ctx_destroy(ctx);
    free(block);
    return 1;
}
