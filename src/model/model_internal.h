// Shared between the files of src/model only.
#ifndef DFD_MODEL_MODEL_INTERNAL_H
#define DFD_MODEL_MODEL_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/status.h"

// One weight of a TF.js manifest, decoded.
typedef struct tfjs_weight {
    const char *name; // borrowed from the manifest JSON
    bool is_int;      // int32 logical type (shapes, axes, paddings)
    dfd_tensor value; // float values (int weights too, exactly representable up to 2^24)
} tfjs_weight;

typedef struct tfjs_weights {
    tfjs_weight *items;
    size_t n;
} tfjs_weights;

// Decode every weight listed in the manifest from the shard files next to `json_path`.
// Checks each entry's size against its shape and type and the total against the files; every
// failure is DFD_ERR_FORMAT (or NOT_FOUND / IO / NOMEM / LIMIT) with a message naming the file.
dfd_status tfjs_weights_load(tfjs_weights *w, const cJSON *manifest, const char *json_path,
                             dfd_error *err);
void tfjs_weights_free(tfjs_weights *w);
const tfjs_weight *tfjs_weights_find(const tfjs_weights *w, const char *name);

// IEEE 754 half precision to float (subnormals, infinities and NaN included).
float tfjs_half_to_float(uint16_t h);

// Decode standard base64 (as TF.js stores string attributes) into out (capacity n, NUL-terminated).
// Returns false on invalid input or overflow.
bool tfjs_base64_decode(char *out, size_t n, const char *in);

#endif
