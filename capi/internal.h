/* Internal declarations shared by gowt.c and the Go exports (main.go). Not
 * installed; not part of the public API. */
#ifndef GOWT_CAPI_INTERNAL_H
#define GOWT_CAPI_INTERNAL_H

#include <stddef.h>

/* The sized structs filled by the init functions (gowtgo_init_struct). */
enum gowt_sized_kind {
    GOWT_SIZED_CONFIG = 1,
    GOWT_SIZED_PATH_OPTIONS = 2,
    GOWT_SIZED_CONNECT_OPTIONS = 3
};

/* Sets the calling thread's last error message (gowt_last_error); msg need
 * not be NUL-terminated. Defined in gowt.c. */
void gowtc_set_thread_error(const char *msg, size_t len);

#endif
