/* Test cases defined in the test_*.c files; registered in test_api.c. */
#ifndef GOWT_TEST_CASES_H
#define GOWT_TEST_CASES_H

/* test_streams.c */
void test_pull(void);
void test_push_backpressure(void);
void test_server_streams(void);
void test_reset_stop(void);
void test_many_streams(void);
/* test_sessions.c */
void test_refuse(void);
void test_drain(void);
void test_server_close(void);
void test_multi_session(void);
void test_destroy(void);
/* test_dispatch.c */
void test_poll_mode(void);
void test_threads(void);
/* test_process.c */
void test_two_process(void);
void test_serve_child(void); /* hidden: the server half of two_process */
void test_cert(void);
/* test_v02.c */
void test_defer_value(void);
void test_defer_timeout(void);
void test_connect_response_timeout(void);
void test_ctx_wait(void);
void test_thread_error(void);
void test_receive_pause(void);
/* test_features.c */
void test_log(void);
void test_stats(void);
void test_client_cert(void);
void test_resumption(void);
void test_priority(void);
void test_priority_args(void);
void test_streams_available(void);
/* test_v03.c */
void test_nocopy(void);
void test_nocopy_release(void);
void test_runtime_gc(void);
void test_opaque_values(void);

#endif
