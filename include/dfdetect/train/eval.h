// Evaluating a detector on a labelled dataset (`dfdetect eval`, and the server's evaluation jobs):
// the caller scans every item (detect/scan.h) and hands over one outcome per item; this module
// turns them into video-level and frame-level metrics (train/metrics.h), per-method figures, JSON,
// and a report folder (PNG charts, a per-item CSV and an HTML page tying them together).
//
// Items without a score. An item whose file has no usable face (NO_FACE) or could not be read
// (FAILED) has no probability. The main video-level metrics are over the scored items only, and
// the unscored ones are counted and listed; a second variant, `video_all`, scores every unscored
// item 0.5 ("don't know", as the DFDC submission does), so a detector that finds no face in many
// fakes cannot look better than it is.
//
// Frame level: every face the scanner scored (each identity's frames) with its calibrated frame
// probability and its item's label.
//
// Per method (when items carry a `method`): the method's items, their accuracy at the threshold,
// the recall of its fakes, and the AUC of its fakes against every scored REAL item of the dataset
// (the usual per-manipulation AUC of FaceForensics++; NaN for a method without fakes or a dataset
// without scored REAL items).
#ifndef DFD_TRAIN_EVAL_H
#define DFD_TRAIN_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/train/metrics.h"
#include "dfdetect/util/status.h"

typedef enum dfd_eval_outcome {
    DFD_EVAL_SCORED = 0, // the item has a probability
    DFD_EVAL_NO_FACE,    // no usable face: not scored (reason says why)
    DFD_EVAL_FAILED,     // the file could not be read: not scored (reason holds the error)
} dfd_eval_outcome;

// One evaluated item. Every pointer is borrowed for the calls that take the item.
typedef struct dfd_eval_item {
    const char *file;   // as the dataset names it
    dfd_label label;    // the truth
    const char *method; // the dataset's `method` column; NULL when none
    dfd_eval_outcome outcome;
    double probability;       // the video's calibrated P(FAKE) in [0, 1]; read only when SCORED
    const float *frame_probs; // calibrated P(FAKE) of each scored face (any identity); may be
    size_t n_frame_probs;     // NULL / 0; read only when SCORED
    size_t n_faces;           // identities found
    const char *reason;       // NO_FACE / FAILED: why (may be NULL)
} dfd_eval_item;

typedef struct dfd_eval_opts {
    double threshold; // probability at or above which an item is FAKE (0.5)
    size_t n_boot;    // bootstrap resamples of the AUC interval (1000); 0: no interval
    double level;     // interval level (0.95)
    uint64_t seed;    // bootstrap seed (1): the same items give the same interval
} dfd_eval_opts;

dfd_eval_opts dfd_eval_opts_default(void);

// Figures of one `method` value.
typedef struct dfd_eval_method {
    const char *name; // borrowed from the items
    size_t n, n_fake; // its items, its FAKE items
    size_t n_scored;  // ... of which scored
    double accuracy;  // share of its scored items on the right side of the threshold
    double recall;    // share of its scored fakes at or above the threshold; NaN: none
    double auc;       // its scored fakes against every scored REAL item; NaN: see above
} dfd_eval_method;

typedef struct dfd_eval {
    double threshold;
    size_t n;                        // items
    size_t n_label[DFD_LABEL_COUNT]; // items per label
    size_t n_scored, n_no_face, n_failed;
    // Video level over the scored items (all zero with NaN rates when none was scored; the
    // 2-class fields NaN when one label is missing among them).
    dfd_metrics video;
    double auc_lo, auc_hi; // bootstrap interval of video.auc; NaN when not computed
    dfd_metrics video_all; // every item, unscored ones at 0.5
    dfd_roc roc;           // video-level ROC of the scored items; empty (n = 0) with one label
    // Frame level: every scored face.
    size_t n_frames;
    double frame_auc, frame_log_loss; // NaN when no face (AUC: or one label)
    dfd_roc frame_roc;                // empty when frame_auc is NaN
    dfd_eval_method *methods;         // sorted by name; NULL when no item has a method
    size_t n_methods;
} dfd_eval;

// Compute everything over items[0..n) with options o (NULL: the defaults) into *out
// (overwritten; free with dfd_eval_free; left empty on error). It is not an error that no item
// was scored or that one label is missing: the affected fields are NaN (JSON null, "n/a").
// Errors: DFD_ERR_INVALID (n == 0, a label out of range, a scored item whose probability or a
// frame probability is not in [0, 1], a threshold outside [0, 1]), DFD_ERR_NOMEM.
dfd_status dfd_eval_compute(dfd_eval *out, const dfd_eval_item *items, size_t n,
                            const dfd_eval_opts *o, dfd_error *err);

void dfd_eval_free(dfd_eval *e); // accepts NULL and empty results

// What was evaluated, for the JSON and the report's header. Strings borrowed; any may be NULL.
typedef struct dfd_eval_info {
    const char *model_path, *model_name, *model_version;
    const char *const *data; // the dataset paths
    size_t n_data;
    bool holdout; // only the held-out fold of the model's training was evaluated
    int holdout_fold, holdout_folds;
    int frames;     // frames sampled per video
    bool mirrored;  // crops were also scored mirrored (dfd_scan_opts.mirror)
    double seconds; // wall time of the scan
} dfd_eval_info;

// The evaluation as JSON text (pretty-printed; dfd_free it): "model", "data", "holdout",
// "frames", "mirrored", "seconds", "counts", "video" (metrics, "auc_ci", "confusion" as
// {"tn","fp","fn","tp"}), "video_all", "frame", "methods", and "items": per item file, label,
// probability (null unless scored), verdict (REAL / FAKE / NO_FACE / ERROR), n_faces, reason. NaN
// figures are null. NULL when out of memory.
char *dfd_eval_to_json(const dfd_eval *e, const dfd_eval_item *items, size_t n,
                       const dfd_eval_info *info);

// The per-item CSV (header `file,label,probability,verdict,n_faces,reason`, RFC 4180 quoting,
// probability empty unless scored) as a string (dfd_free it). NULL when out of memory.
char *dfd_eval_csv(const dfd_eval *e, const dfd_eval_item *items, size_t n);

// Write the report folder `dir` whole (built in a temporary folder next to it, then published:
// a folder already there is replaced; the parent must exist): roc.png (video and frame curves,
// the operating point), confusion.png, scores.png (histogram of REAL vs FAKE probabilities),
// items.csv, metrics.json (dfd_eval_to_json) and index.html. A chart that cannot be drawn
// (one label, nothing scored) is left out and the page says so.
// Errors, one line naming the folder or file: DFD_ERR_IO, DFD_ERR_LIMIT (path too long),
// DFD_ERR_INVALID, DFD_ERR_NOMEM; nothing is left behind on error.
dfd_status dfd_eval_report_write(const char *dir, const dfd_eval *e, const dfd_eval_item *items,
                                 size_t n, const dfd_eval_info *info, dfd_error *err);

// ---- which items ----

// The held-out part of a model's training (`dfdetect train --cv-folds K --cv-fold k`), as its
// training metadata records it: "holdout": {"folds": K, "fold": k, "seed": S[, "n": N]}.
typedef struct dfd_eval_holdout {
    int folds, fold; // 2 <= folds <= 1000, 0 <= fold < folds
    uint64_t seed;
    long long n; // items held out in training; -1 when not recorded
} dfd_eval_holdout;

// Read the "holdout" object of a model's training JSON text (detect/model.h training_json).
// Errors: DFD_ERR_NOT_FOUND (json NULL, or no "holdout" object), DFD_ERR_FORMAT (not JSON, or a
// field missing or out of range); no message (the caller names the model).
dfd_status dfd_eval_holdout_parse(dfd_eval_holdout *h, const char *training_json);

// The indices of the dataset items to evaluate, increasing, into *idx (dfd_free it; n_idx of
// them): all items, or with h (may be NULL) those of fold h->fold of the grouped k-fold the
// trainer used (data/split.h dfd_split_kfold(ds, h->folds, h->seed), which is the held-out part
// of dfd_split_holdout); then, when limit > 0 and fewer than the selection, `limit` of them
// evenly spaced over it (so a real/ + fake/ listing keeps both labels).
// Errors: those of dfd_split_kfold, DFD_ERR_NOMEM.
dfd_status dfd_eval_select(size_t **idx, size_t *n_idx, const dfd_dataset *ds,
                           const dfd_eval_holdout *h, size_t limit, dfd_error *err);

// "REAL", "FAKE", "NO_FACE" or "ERROR": the verdict of an item at threshold t.
const char *dfd_eval_verdict(const dfd_eval_item *it, double t);

#endif
