// A scan result as JSON: the object `dfdetect scan --json` prints per file and the server returns
// as a job's "result", built in one place so both say exactly the same thing:
//   {"file", "verdict", "error"? (ERROR only), "probability" (null for NO_FACE), "threshold",
//    "reason", "frames", "whole_image"? (true only), "identities": [{"probability", "logit",
//    "frames": [{"index", "time_s", "probability", "logit", "box": [x0, y0, x1, y1],
//    "heatmap"? (path)}]}], "timing_s": {"decode", "detect", "landmarks", "crop", "backbone",
//    "head", "total"}, "explain"? {"dir", "timeline", "sheet", "seconds"},
//    "model": {"name", "version"}}
// Times are rounded to 1 us (frame times) and 0.1 ms (stage timings), boxes to 0.01 pixel.
#ifndef DFD_DETECT_SCAN_JSON_H
#define DFD_DETECT_SCAN_JSON_H

#include <cjson/cJSON.h>

#include "dfdetect/detect/explain.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"

// Where a result's explanation was written (dfd_explain_write), for the "heatmap" and "explain"
// keys: paths are "<dir>/<name>".
typedef struct dfd_scan_json_explain {
    const char *dir;
    const dfd_explain_files *files; // n_ids == 0: nothing was written (no keys added)
    double seconds;                 // the time writing it took
} dfd_scan_json_explain;

// The JSON object of result r of the file shown as `file`, scanned with model m; ex (may be NULL)
// adds the explanation's paths. Returns a new object the caller frees with cJSON_Delete, or NULL
// when out of memory (a member that could not be allocated is left out).
cJSON *dfd_scan_result_json(const dfd_scan_result *r, const char *file, const dfd_detector_model *m,
                            const dfd_scan_json_explain *ex);

#endif
