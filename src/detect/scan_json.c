// A scan result as JSON, shared by `dfdetect scan --json` and the server: see scan_json.h.
#include "dfdetect/detect/scan_json.h"

#include <math.h>
#include <stdio.h>

static double round_to(double x, double scale)
{
    return round(x * scale) / scale;
}

// `dir/name` as a new JSON string.
static cJSON *path_json(const char *dir, const char *name)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cJSON_CreateString(path);
}

// heatmaps: the identity's heatmap file names in dir (NULL without an explanation).
static cJSON *identity_json(const dfd_scan_identity *id, const char *dir, char *const *heatmaps)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddNumberToObject(o, "probability", (double)id->probability);
    cJSON_AddNumberToObject(o, "logit", (double)id->seq_logit);
    cJSON *frames = cJSON_AddArrayToObject(o, "frames");
    for (size_t k = 0; frames && k < id->n; k++) {
        const dfd_scan_face *f = &id->faces[k];
        cJSON *fo = cJSON_CreateObject();
        if (!fo) {
            break;
        }
        cJSON_AddNumberToObject(fo, "index", (double)f->frame_index);
        cJSON_AddNumberToObject(fo, "time_s", round_to(f->pts_s, 1e6));
        cJSON_AddNumberToObject(fo, "probability", (double)f->probability);
        cJSON_AddNumberToObject(fo, "logit", (double)f->logit);
        double box[4];
        for (int j = 0; j < 4; j++) {
            box[j] = round_to((double)f->box[j], 100);
        }
        cJSON_AddItemToObject(fo, "box", cJSON_CreateDoubleArray(box, 4));
        if (heatmaps) {
            cJSON_AddItemToObject(fo, "heatmap", path_json(dir, heatmaps[k]));
        }
        cJSON_AddItemToArray(frames, fo);
    }
    return o;
}

static void add_timing(cJSON *o, const dfd_scan_timing *s)
{
    cJSON *t = cJSON_AddObjectToObject(o, "timing_s");
    if (!t) {
        return;
    }
    const double v[7] = { s->decode,   s->detect, s->landmarks, s->crop,
                          s->backbone, s->head,   s->total };
    static const char *const names[7] = { "decode",   "detect", "landmarks", "crop",
                                          "backbone", "head",   "total" };
    for (int k = 0; k < 7; k++) {
        cJSON_AddNumberToObject(t, names[k], round_to(v[k], 1e4));
    }
}

cJSON *dfd_scan_result_json(const dfd_scan_result *r, const char *file, const dfd_detector_model *m,
                            const dfd_scan_json_explain *ex)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "verdict", dfd_scan_verdict_name(r->verdict));
    if (r->verdict == DFD_SCAN_ERROR) {
        cJSON_AddStringToObject(o, "error", r->error);
        return o;
    }
    if (r->verdict == DFD_SCAN_NO_FACE) {
        cJSON_AddNullToObject(o, "probability");
    } else {
        cJSON_AddNumberToObject(o, "probability", (double)r->probability);
    }
    cJSON_AddNumberToObject(o, "threshold", (double)r->threshold);
    cJSON_AddStringToObject(o, "reason", r->reason);
    cJSON_AddNumberToObject(o, "frames", (double)r->n_frames);
    if (r->whole_image) {
        cJSON_AddBoolToObject(o, "whole_image", true);
    }
    if (r->mirrored) {
        cJSON_AddBoolToObject(o, "mirrored", true);
    }
    const bool explained = ex && ex->files && ex->files->n_ids;
    cJSON *ids = cJSON_AddArrayToObject(o, "identities");
    for (size_t i = 0; ids && i < r->n_ids; i++) {
        cJSON *io = identity_json(&r->ids[i], explained ? ex->dir : NULL,
                                  explained ? ex->files->heatmap[i] : NULL);
        if (io) {
            cJSON_AddItemToArray(ids, io);
        }
    }
    add_timing(o, &r->seconds);
    if (explained) {
        cJSON *eo = cJSON_AddObjectToObject(o, "explain");
        if (eo) {
            cJSON_AddStringToObject(eo, "dir", ex->dir);
            cJSON_AddItemToObject(eo, "timeline", path_json(ex->dir, ex->files->timeline));
            cJSON_AddItemToObject(eo, "sheet", path_json(ex->dir, ex->files->sheet));
            cJSON_AddNumberToObject(eo, "seconds", round_to(ex->seconds, 1e4));
        }
    }
    cJSON *mo = cJSON_AddObjectToObject(o, "model");
    if (mo) {
        cJSON_AddStringToObject(mo, "name", m->name);
        cJSON_AddStringToObject(mo, "version", m->version);
    }
    return o;
}
