// The per-face backbone: faceres (HSE MobileNet-v1, VGGFace2-pretrained, ../shared/MODELS.md)
// turns an aligned face crop into a 1024-d embedding (its `global_pooling/Mean`). The same
// preprocessing serves training (autograd inputs) and inference, so what the detector learns on
// is exactly what it sees: the crop resized to 224 x 224 (area filter), channels in BGR order
// with the Caffe/VGG means subtracted and no scaling, as upstream trained it. (Human feeds RGB
// 0..255 without means; with the upstream convention a linear probe on frozen embeddings
// separates DFDC real and fake crops better, docs/ACCURACY.md.)
#ifndef DFD_DETECT_BACKBONE_H
#define DFD_DETECT_BACKBONE_H

#include <stddef.h>

#include "dfdetect/image/image.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

#define DFD_BACKBONE_SIZE 224
#define DFD_BACKBONE_DIM  1024
#define DFD_BACKBONE_OUT  "global_pooling/Mean"

// Fill dst[DFD_BACKBONE_SIZE * DFD_BACKBONE_SIZE * 3] (NHWC, one item) from an RGB crop of any
// size (resized when it is not 224 x 224). Errors: DFD_ERR_INVALID (not RGB, empty),
// DFD_ERR_NOMEM.
dfd_status dfd_backbone_input(float *dst, const dfd_image *crop);

typedef struct dfd_backbone dfd_backbone;

// A backbone running `g` (the faceres graph, borrowed: it must outlive the backbone) in batches
// of `batch` on `n_threads` threads (0 = one per CPU). Errors: DFD_ERR_INVALID (batch outside
// 1..256), DFD_ERR_FORMAT (the graph has no DFD_BACKBONE_OUT output of DFD_BACKBONE_DIM values
// or no 224 x 224 x 3 input), and those of dfd_session_create.
dfd_status dfd_backbone_create(dfd_backbone **out, const dfd_graph *g, int batch, int n_threads,
                               dfd_error *err);
void dfd_backbone_free(dfd_backbone *b); // accepts NULL

// Embeddings of n crops into out[n][DFD_BACKBONE_DIM], in batches. The result of a crop does not
// depend on the batch it ran in (beyond float rounding). One thread at a time per backbone.
dfd_status dfd_backbone_embed(float *out, dfd_backbone *b, const dfd_image *crops, size_t n,
                              dfd_error *err);

#endif
