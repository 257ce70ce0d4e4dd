/* A program built against an installed gowt: checks the header and the
 * library agree and a context can be made and destroyed. */
#include <gowt.h>
#include <stdio.h>

int main(void) {
    if (gowt_version_number() != GOWT_VERSION_NUMBER) return 1;
    gowt_config cfg;
    gowt_config_init(&cfg);
    gowt_ctx *ctx = NULL;
    if (gowt_ctx_create(&cfg, &ctx) != GOWT_OK) return 1;
    uint16_t port = 0;
    if (gowt_server_listen(ctx, "127.0.0.1", 0, &port) != GOWT_OK || port == 0) return 1;
    if (gowt_ctx_destroy(ctx) != GOWT_OK) return 1;
    printf("consumer ok, gowt %s\n", gowt_version());
    return 0;
}
