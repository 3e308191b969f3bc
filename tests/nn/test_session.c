// Sessions and graphs: fusion keeps the numbers, the arena shares memory between values that are
// never alive together, and concurrent sessions on one shared graph agree with a single one.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn_test_util.h"
#include "test.h"

// A chain x -> conv(3x3) -> Mul(c) -> Add(c) -> Relu -> Minimum(6) -> Maximum(0)
//           -> conv(1x1) -> Add(residual: the first conv's output) -> Relu  (+ n_extra convs)
static dfd_graph *build_chain(bool fuse, int n_extra, int C)
{
    dfd_graph *g;
    if (dfd_graph_create(&g)) {
        return NULL;
    }
    int x, shape[4] = { DFD_BATCH, 9, 11, C };
    dfd_graph_add_value(g, "x", 4, shape, &x);
    dfd_graph_add_input(g, x);
    int cur = x, ids = 0;
    char name[32];
    // Adds a node reading `in` (and `in2` if >= 0) and returns its output value.
    dfd_node *n;
#define NEW_VALUE(v)                                 \
    do {                                             \
        snprintf(name, sizeof name, "v%d", ids++);   \
        dfd_graph_add_value(g, name, 0, NULL, &(v)); \
    } while (0)
    int conv1;
    NEW_VALUE(conv1);
    dfd_graph_add_node(g, DFD_OP_CONV2D, "conv1", &cur, 1, conv1, &n);
    n->a.conv.win = (dfd_window){ 3, 3, 1, 1, 1, 1, DFD_PAD_SAME, { 0 } };
    n->a.conv.groups = 1;
    int ws[4] = { 3, 3, C, C };
    dfd_tensor_alloc(&n->weight, 4, ws);
    test_fill(&n->weight, 0.3f);
    cur = conv1;
    // Mul and Add by per-channel constants, then Relu, Minimum(6), Maximum(0).
    const dfd_op ops[5] = { DFD_OP_MUL, DFD_OP_ADD, DFD_OP_ACT, DFD_OP_MINIMUM, DFD_OP_MAXIMUM };
    for (int k = 0; k < 5; k++) {
        int out, in[2] = { cur, -1 }, n_in = 1;
        if (ops[k] != DFD_OP_ACT) {
            dfd_tensor c;
            int len = k >= 3 ? 1 : C;
            dfd_tensor_alloc(&c, 1, &len);
            test_fill(&c, 1.0f);
            if (k == 3) {
                c.data[0] = 6;
            } else if (k == 4) {
                c.data[0] = 0;
            }
            snprintf(name, sizeof name, "c%d", k);
            dfd_graph_add_const(g, name, &c, &in[1]);
            n_in = 2;
        }
        NEW_VALUE(out);
        snprintf(name, sizeof name, "op%d", k);
        dfd_graph_add_node(g, ops[k], name, in, n_in, out, &n);
        if (ops[k] == DFD_OP_ACT) {
            n->act.kind = DFD_ACT_RELU;
        }
        cur = out;
    }
    int skip = cur;
    for (int k = 0; k < 1 + n_extra; k++) {
        int c2, sum, act;
        NEW_VALUE(c2);
        snprintf(name, sizeof name, "pw%d", k);
        dfd_graph_add_node(g, DFD_OP_CONV2D, name, &cur, 1, c2, &n);
        n->a.conv.win = (dfd_window){ 1, 1, 1, 1, 1, 1, DFD_PAD_VALID, { 0 } };
        n->a.conv.groups = 1;
        int pw[4] = { 1, 1, C, C };
        dfd_tensor_alloc(&n->weight, 4, pw);
        test_fill(&n->weight, 0.3f);
        int in[2] = { skip, c2 };
        NEW_VALUE(sum);
        snprintf(name, sizeof name, "add%d", k);
        dfd_graph_add_node(g, DFD_OP_ADD, name, in, 2, sum, &n);
        NEW_VALUE(act);
        snprintf(name, sizeof name, "relu%d", k);
        dfd_graph_add_node(g, DFD_OP_ACT, name, &sum, 1, act, &n);
        n->act.kind = DFD_ACT_RELU;
        skip = cur = act;
    }
#undef NEW_VALUE
    dfd_graph_add_output(g, cur, NULL, 0);
    dfd_finalize_opts fo = { .fuse = fuse };
    if (dfd_graph_finalize(g, &fo, "chain", NULL) != DFD_OK) {
        dfd_graph_free(g);
        return NULL;
    }
    return g;
}

static void run_on(dfd_graph *g, dfd_backend b, int batch, uint64_t seed, dfd_tensor *out)
{
    dfd_session_opts so = dfd_session_opts_default();
    so.backend = b;
    so.n_threads = 1;
    dfd_session *s;
    if (dfd_session_create(&s, g, batch, &so, NULL) != DFD_OK) {
        return;
    }
    test_rng_seed(seed);
    test_fill(dfd_session_input(s, 0), 2.0f);
    dfd_session_run(s, NULL);
    dfd_tensor_copy(out, dfd_session_output(s, 0));
    dfd_session_free(s);
}

static void fusion_folds_the_chain_and_keeps_the_numbers(void)
{
    test_rng_seed(7);
    dfd_graph *plain = build_chain(false, 0, 5);
    test_rng_seed(7);
    dfd_graph *fused = build_chain(true, 0, 5);
    REQUIRE(plain && fused);
    CHECK_EQ_INT(dfd_graph_n_nodes(plain), 9);
    // conv1 absorbs Mul, Add, Relu, Minimum, Maximum; the 1x1 conv absorbs Add(skip) and Relu.
    CHECK_EQ_INT(dfd_graph_n_nodes(fused), 2);
    const dfd_node *c1 = dfd_graph_node(fused, 0), *c2 = dfd_graph_node(fused, 1);
    CHECK_EQ_INT(c1->act.kind, DFD_ACT_CLIP);
    CHECK(c1->act.lo == 0 && c1->act.hi == 6);
    CHECK(c1->bias.rank == 1);
    CHECK(c2->residual >= 0 && c2->act.kind == DFD_ACT_RELU);
    for (int b = 0; b < 2; b++) {
        dfd_tensor y0 = { 0 }, y1 = { 0 };
        run_on(plain, DFD_BACKEND_REF, 2, 11, &y0);
        run_on(fused, b ? DFD_BACKEND_FAST : DFD_BACKEND_REF, 2, 11, &y1);
        REQUIRE(y0.rank == 4 && dfd_tensor_same_shape(&y0, &y1));
        CHECK(test_rel_err(&y1, &y0) < 1e-5);
        dfd_tensor_free(&y0);
        dfd_tensor_free(&y1);
    }
    dfd_graph_free(plain);
    dfd_graph_free(fused);
}

static void the_arena_shares_memory_between_values_never_alive_together(void)
{
    dfd_graph *g = build_chain(true, 12, 16);
    REQUIRE(g);
    dfd_session *s;
    CHECK_OK(dfd_session_create(&s, g, 4, NULL, NULL));
    size_t one = (size_t)4 * 9 * 11 * 16 * sizeof(float);
    // 15 values of `one` bytes flow through the chain; at most three are alive at once (the
    // input of a block, its skip, its output).
    CHECK(dfd_session_arena_bytes(s) <= 3 * ((one + 63) / 64 * 64));
    CHECK(dfd_session_arena_bytes(s) >= 2 * one);
    dfd_session_free(s);
    dfd_graph_free(g);
}

typedef struct worker_arg {
    dfd_graph *g;
    dfd_tensor out;
    int rounds;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = 1;
    dfd_session *s;
    if (dfd_session_create(&s, a->g, 3, &so, NULL) != DFD_OK) {
        return NULL;
    }
    for (int r = 0; r < a->rounds; r++) {
        dfd_tensor *x = dfd_session_input(s, 0);
        for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
            x->data[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        }
        dfd_session_run(s, NULL);
    }
    dfd_tensor_copy(&a->out, dfd_session_output(s, 0));
    dfd_session_free(s);
    return NULL;
}

static void concurrent_sessions_on_one_graph_agree(void)
{
    dfd_graph *g = build_chain(true, 4, 24);
    REQUIRE(g);
    worker_arg args[3] = { { g, { 0 }, 1 }, { g, { 0 }, 40 }, { g, { 0 }, 40 } };
    worker(&args[0]); // alone
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
        CHECK(pthread_create(&t[k], NULL, worker, &args[k + 1]) == 0);
    }
    for (int k = 0; k < 2; k++) {
        pthread_join(t[k], NULL);
    }
    for (int k = 1; k < 3; k++) {
        REQUIRE(args[k].out.rank == 4);
        CHECK(memcmp(args[k].out.data, args[0].out.data,
                     dfd_tensor_numel(&args[0].out) * sizeof(float)) == 0);
        dfd_tensor_free(&args[k].out);
    }
    dfd_tensor_free(&args[0].out);
    dfd_graph_free(g);
}

static void sessions_refuse_bad_batches(void)
{
    dfd_graph *g = build_chain(true, 0, 3);
    REQUIRE(g);
    dfd_session *s = NULL;
    dfd_error err;
    CHECK_EQ_INT(dfd_session_create(&s, g, 0, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_session_create(&s, g, 5000, NULL, &err), DFD_ERR_INVALID);
    CHECK(s == NULL);
    dfd_graph_free(g);
}

DFD_TEST_MAIN({ "fusion_folds_the_chain_and_keeps_the_numbers",
                fusion_folds_the_chain_and_keeps_the_numbers },
              { "the_arena_shares_memory_between_values_never_alive_together",
                the_arena_shares_memory_between_values_never_alive_together },
              { "concurrent_sessions_on_one_graph_agree", concurrent_sessions_on_one_graph_agree },
              { "sessions_refuse_bad_batches", sessions_refuse_bad_batches })
