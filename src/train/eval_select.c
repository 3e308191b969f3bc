// Which dataset items an evaluation scores: all, or the fold a model was never trained on, and a
// spread subset (see dfd_eval_select in include/dfdetect/train/eval.h).
#include <cjson/cJSON.h>
#include <math.h>

#include "dfdetect/data/split.h"
#include "dfdetect/train/eval.h"
#include "dfdetect/util/alloc.h"

static bool whole_in(const cJSON *o, const char *key, double lo, double hi, double *v)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it)) {
        return false;
    }
    *v = it->valuedouble;
    return *v >= lo && *v <= hi && *v == floor(*v);
}

dfd_status dfd_eval_holdout_parse(dfd_eval_holdout *h, const char *training_json)
{
    h->folds = h->fold = 0;
    h->seed = 0;
    h->n = -1;
    if (!training_json) {
        return DFD_ERR_NOT_FOUND;
    }
    cJSON *doc = cJSON_Parse(training_json);
    if (!doc) {
        return DFD_ERR_FORMAT;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, "holdout");
    dfd_status st = DFD_OK;
    double folds, fold, seed, n;
    if (!cJSON_IsObject(o)) {
        st = DFD_ERR_NOT_FOUND;
    } else if (!whole_in(o, "folds", 2, 1000, &folds) ||
               !whole_in(o, "fold", 0, folds - 1, &fold) ||
               !whole_in(o, "seed", 0, 9007199254740992.0, &seed)) {
        st = DFD_ERR_FORMAT;
    } else {
        h->folds = (int)folds;
        h->fold = (int)fold;
        h->seed = (uint64_t)seed;
        h->n = whole_in(o, "n", 0, 1e15, &n) ? (long long)n : -1;
    }
    cJSON_Delete(doc);
    return st;
}

dfd_status dfd_eval_select(size_t **idx, size_t *n_idx, const dfd_dataset *ds,
                           const dfd_eval_holdout *h, size_t limit, dfd_error *err)
{
    *idx = NULL;
    *n_idx = 0;
    size_t *v = dfd_malloc((ds->n ? ds->n : 1) * sizeof *v);
    int *fold = h ? dfd_malloc((ds->n ? ds->n : 1) * sizeof *fold) : NULL;
    if (!v || (h && !fold)) {
        dfd_free(v);
        dfd_free(fold);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    dfd_status st = h ? dfd_split_kfold(fold, ds, h->folds, h->seed, err) : DFD_OK;
    size_t n = 0;
    for (size_t i = 0; !st && i < ds->n; i++) {
        if (!h || fold[i] == h->fold) {
            v[n++] = i;
        }
    }
    dfd_free(fold);
    if (st) {
        dfd_free(v);
        return st;
    }
    if (limit > 0 && limit < n) {
        // Item k of the subset is number floor(k n / limit) of the selection: increasing, distinct.
        for (size_t k = 0; k < limit; k++) {
            v[k] = v[k * n / limit];
        }
        n = limit;
    }
    *idx = v;
    *n_idx = n;
    return DFD_OK;
}
