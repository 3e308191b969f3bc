// faceres embeddings: preprocessing shared by training and inference, batched runs.
#include "dfdetect/detect/backbone.h"

#include <string.h>

#include "dfdetect/image/resize.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"

// Caffe/VGG channel means, in the network's (BGR) channel order.
static const float MEAN_BGR[3] = { 103.939f, 116.779f, 123.68f };

struct dfd_backbone {
    dfd_session *session; // batch `batch`, made on first need (an image never needs it)
    dfd_session *single;  // batch 1, made on first need: short remainders run item by item
    const dfd_graph *g;
    int batch, n_threads;
    int out; // output index of DFD_BACKBONE_OUT
};

dfd_status dfd_backbone_input(float *dst, const dfd_image *crop)
{
    if (!crop || !crop->data || crop->c != 3 || crop->w < 1 || crop->h < 1) {
        return DFD_ERR_INVALID;
    }
    dfd_image sized = { 0 };
    const dfd_image *src = crop;
    if (crop->w != DFD_BACKBONE_SIZE || crop->h != DFD_BACKBONE_SIZE) {
        dfd_status st = dfd_image_alloc(&sized, DFD_BACKBONE_SIZE, DFD_BACKBONE_SIZE, 3);
        if (!st) {
            st = dfd_image_resize(&sized, crop, DFD_RESIZE_AREA);
        }
        if (st) {
            dfd_image_free(&sized);
            return st;
        }
        src = &sized;
    }
    for (int y = 0; y < DFD_BACKBONE_SIZE; y++) {
        const unsigned char *p = src->data + (size_t)y * src->stride;
        float *d = dst + (size_t)y * DFD_BACKBONE_SIZE * 3;
        for (int x = 0; x < DFD_BACKBONE_SIZE; x++, p += 3, d += 3) {
            d[0] = (float)p[2] - MEAN_BGR[0];
            d[1] = (float)p[1] - MEAN_BGR[1];
            d[2] = (float)p[0] - MEAN_BGR[2];
        }
    }
    dfd_image_free(&sized);
    return DFD_OK;
}

void dfd_backbone_free(dfd_backbone *b)
{
    if (!b) {
        return;
    }
    dfd_session_free(b->session);
    dfd_session_free(b->single);
    dfd_free(b);
}

dfd_status dfd_backbone_create(dfd_backbone **out, const dfd_graph *g, int batch, int n_threads,
                               dfd_error *err)
{
    *out = NULL;
    if (batch < 1 || batch > 256) {
        return dfd_error_set(err, DFD_ERR_INVALID, "backbone: batch %d outside 1..256", batch);
    }
    int o = dfd_graph_find_output(g, DFD_BACKBONE_OUT);
    const dfd_value *in =
        dfd_graph_n_inputs(g) == 1 ? dfd_graph_value(g, dfd_graph_input(g, 0)) : NULL;
    const dfd_value *ov = o >= 0 ? dfd_graph_value(g, dfd_graph_output(g, (size_t)o)) : NULL;
    size_t dim = 1;
    for (int i = 1; ov && i < ov->rank; i++) {
        dim *= (size_t)ov->shape[i];
    }
    if (!in || !ov || dim != DFD_BACKBONE_DIM || in->rank != 4 ||
        in->shape[1] != DFD_BACKBONE_SIZE || in->shape[2] != DFD_BACKBONE_SIZE ||
        in->shape[3] != 3) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "backbone: the model is not faceres (a 224x224x3 input and a "
                             "1024-d %s output)",
                             DFD_BACKBONE_OUT);
    }
    dfd_backbone *b = dfd_calloc(1, sizeof *b);
    if (!b) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "backbone: out of memory");
    }
    b->batch = batch;
    b->n_threads = n_threads;
    b->g = g;
    b->out = o;
    *out = b;
    return DFD_OK;
}

// *s, a session of `batch` items, made on first use (a session's arena grows with its batch).
static dfd_status session_of(dfd_session **s, const dfd_backbone *b, int batch, dfd_error *err)
{
    if (*s) {
        return DFD_OK;
    }
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = b->n_threads;
    return dfd_session_create(s, b->g, (size_t)batch, &so, err);
}

// Fill the first nb slots of session s's input from crops and run it into out[nb][DIM].
static dfd_status run_batch(float *out, dfd_session *s, int out_index, const dfd_image *crops,
                            size_t i0, size_t nb, dfd_error *err)
{
    const size_t per_item = (size_t)DFD_BACKBONE_SIZE * DFD_BACKBONE_SIZE * 3;
    dfd_tensor *in = dfd_session_input(s, 0);
    for (size_t k = 0; k < nb; k++) {
        dfd_status st = dfd_backbone_input(in->data + k * per_item, &crops[k]);
        if (st) {
            return dfd_error_set(err, st, "backbone: crop %zu is %s", i0 + k,
                                 st == DFD_ERR_NOMEM ? "too large for memory" : "not an RGB image");
        }
    }
    dfd_status st = dfd_session_run(s, err);
    if (st) {
        return st;
    }
    const dfd_tensor *o = dfd_session_output(s, (size_t)out_index);
    memcpy(out, o->data, nb * DFD_BACKBONE_DIM * sizeof *out);
    return DFD_OK;
}

dfd_status dfd_backbone_embed(float *out, dfd_backbone *b, const dfd_image *crops, size_t n,
                              dfd_error *err)
{
    for (size_t i0 = 0; i0 < n; i0 += (size_t)b->batch) {
        size_t nb = n - i0 < (size_t)b->batch ? n - i0 : (size_t)b->batch;
        dfd_status st;
        // A short remainder (a one-frame image, the tail of a video) would run a whole batch of
        // stale slots: under a quarter of the batch, the items run one by one instead.
        if (nb < (size_t)b->batch && nb * 4 <= (size_t)b->batch) {
            st = session_of(&b->single, b, 1, err);
            if (st) {
                return st;
            }
            for (size_t k = 0; k < nb; k++) {
                st = run_batch(out + (i0 + k) * DFD_BACKBONE_DIM, b->single, b->out, crops + i0 + k,
                               i0 + k, 1, err);
                if (st) {
                    return st;
                }
            }
            continue;
        }
        // A longer short batch runs whole; the unused slots keep stale inputs and are ignored.
        st = session_of(&b->session, b, b->batch, err);
        if (st) {
            return st;
        }
        st = run_batch(out + i0 * DFD_BACKBONE_DIM, b->session, b->out, crops + i0, i0, nb, err);
        if (st) {
            return st;
        }
    }
    return DFD_OK;
}
