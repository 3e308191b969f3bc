// Detector model files: settings as JSON metadata, weights as named tensors.
#include "dfdetect/detect/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/model/checkpoint.h"
#include "dfdetect/util/alloc.h"

#define TYPE_NAME     "dfdetect-detector"
#define BACKBONE_PFX  "backbone/"
#define INPUT_CONVENT "bgr-caffe"

dfd_detector_prep dfd_detector_prep_default(void)
{
    dfd_detector_prep p = { .crop_size = 224,
                            .margin = 1.3f,
                            .frames = 32,
                            .sampling = { DFD_SAMPLING_BURSTS, 8 },
                            .images = DFD_IMAGE_FACES_DETECT_OR_WHOLE };
    return p;
}

void dfd_detector_model_free(dfd_detector_model *m)
{
    if (!m) {
        return;
    }
    dfd_head_free(m->head);
    dfd_free(m->training_json);
    dfd_safetensors_close(m->file);
    dfd_free(m);
}

// Views of the backbone parameters under "backbone/<name>" (names in one allocation).
static dfd_status prefixed(dfd_param **views, char **names, dfd_param *const *src, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(BACKBONE_PFX) + strlen(src[i]->name) + 1;
    }
    *views = dfd_malloc((n ? n : 1) * sizeof **views);
    *names = dfd_malloc(total ? total : 1);
    if (!*views || !*names) {
        dfd_free(*views);
        dfd_free(*names);
        return DFD_ERR_NOMEM;
    }
    char *p = *names;
    for (size_t i = 0; i < n; i++) {
        (*views)[i] = *src[i];
        (*views)[i].name = p;
        p += sprintf(p, "%s%s", BACKBONE_PFX, src[i]->name) + 1;
    }
    return DFD_OK;
}

static char *arch_json(const dfd_detector_model *m)
{
    const dfd_head_opts *o = dfd_head_opts_of(m->head);
    cJSON *a = cJSON_CreateObject(), *h = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", TYPE_NAME);
    cJSON_AddStringToObject(a, "backbone", "faceres");
    cJSON_AddStringToObject(a, "backbone_sha256", m->backbone_sha256);
    cJSON_AddBoolToObject(a, "backbone_tuned", m->backbone_tuned);
    cJSON_AddStringToObject(h, "arch", dfd_head_arch_name(o));
    cJSON_AddNumberToObject(h, "input_dim", o->input_dim);
    cJSON_AddNumberToObject(h, "frame_hidden", o->frame_hidden);
    cJSON_AddNumberToObject(h, "hidden", o->hidden);
    cJSON_AddNumberToObject(h, "layers", o->layers);
    cJSON_AddNumberToObject(h, "dropout", (double)o->dropout);
    cJSON_AddNumberToObject(h, "input_dropout", (double)o->input_dropout);
    cJSON_AddItemToObject(a, "head", h);
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static char *prep_json(const dfd_detector_prep *p)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "input", INPUT_CONVENT);
    cJSON_AddNumberToObject(a, "crop_size", p->crop_size);
    cJSON_AddNumberToObject(a, "margin", (double)p->margin);
    cJSON_AddNumberToObject(a, "frames", p->frames);
    cJSON_AddStringToObject(a, "sampling", dfd_sampling_name(p->sampling.kind));
    cJSON_AddNumberToObject(a, "burst_len", p->sampling.burst_len);
    cJSON_AddStringToObject(a, "images", dfd_image_faces_name(p->images));
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static char *calib_json(const dfd_detector_model *m)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "temperature", (double)m->temperature);
    cJSON_AddNumberToObject(a, "frame_temperature", (double)m->frame_temperature);
    cJSON_AddNumberToObject(a, "threshold", (double)m->threshold);
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

dfd_status dfd_detector_model_save(const char *path, const dfd_detector_model *m,
                                   dfd_param *const *backbone, size_t n_backbone,
                                   const char *training_json, dfd_error *err)
{
    size_t n_head;
    dfd_param *const *hp = dfd_head_params(m->head, &n_head);
    dfd_param *views = NULL;
    char *names = NULL;
    dfd_param **all = dfd_malloc((n_head + n_backbone) * sizeof *all);
    char *arch = arch_json(m), *prep = prep_json(&m->prep), *calib = calib_json(m);
    dfd_status st = DFD_OK;
    if (!all || !arch || !prep || !calib || prefixed(&views, &names, backbone, n_backbone)) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n_head; i++) {
        all[i] = hp[i];
    }
    for (size_t i = 0; i < n_backbone; i++) {
        all[n_head + i] = &views[i];
    }
    dfd_st_meta meta[6] = {
        { DFD_CKPT_ARCHITECTURE, arch }, { DFD_CKPT_PREPROCESSING, prep },
        { "calibration", calib },        { "name", m->name },
        { "version", m->version },       { DFD_CKPT_TRAINING, training_json ? training_json : "{}" }
    };
    st = dfd_checkpoint_save(path, all, n_head + n_backbone, NULL, meta, 6, err);
done:
    dfd_free(all);
    dfd_free(views);
    dfd_free(names);
    cJSON_free(arch);
    cJSON_free(prep);
    cJSON_free(calib);
    return st;
}

// Number `key` of object o into *v; false when absent or not a number.
static bool get_num(double *v, const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
        return false;
    }
    *v = it->valuedouble;
    return true;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool int_in(double v, int lo, int hi)
{
    return v >= lo && v <= hi && v == floor(v);
}

// Settings of the file into m (head options into *ho). false with *what set on a bad field.
static bool parse_settings(dfd_detector_model *m, dfd_head_opts *ho, const cJSON *a, const cJSON *p,
                           const cJSON *c, const char **what)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(a, "head");
    const char *type = get_str(a, "type"), *sha = get_str(a, "backbone_sha256");
    const char *arch = get_str(h, "arch"), *input = get_str(p, "input");
    const char *sampling = get_str(p, "sampling"), *images = get_str(p, "images");
    double in, fh, hid, lay, drop, crop, margin, frames, burst, t, tf, thr;
    *ho = dfd_head_opts_default();
    if (!type || strcmp(type, TYPE_NAME) != 0) {
        *what = "architecture.type is not " TYPE_NAME;
        return false;
    }
    if (!sha || strlen(sha) != 64) {
        *what = "architecture.backbone_sha256";
        return false;
    }
    snprintf(m->backbone_sha256, sizeof m->backbone_sha256, "%s", sha);
    m->backbone_tuned = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "backbone_tuned"));
    if (!arch || dfd_head_arch_parse(ho, arch) || !get_num(&in, h, "input_dim") ||
        !int_in(in, 1, 65536) || !get_num(&fh, h, "frame_hidden") || !int_in(fh, 1, 65536) ||
        !get_num(&hid, h, "hidden") || !int_in(hid, 1, 8192) || !get_num(&lay, h, "layers") ||
        !int_in(lay, 1, 16) || !get_num(&drop, h, "dropout") || !(drop >= 0 && drop < 1)) {
        *what = "architecture.head";
        return false;
    }
    ho->input_dim = (int)in;
    ho->frame_hidden = (int)fh;
    ho->hidden = (int)hid;
    ho->layers = (int)lay;
    ho->dropout = (float)drop;
    double idrop = 0; // absent in models written before input dropout existed
    if (cJSON_GetObjectItemCaseSensitive(h, "input_dropout") &&
        (!get_num(&idrop, h, "input_dropout") || !(idrop >= 0 && idrop < 1))) {
        *what = "architecture.head";
        return false;
    }
    ho->input_dropout = (float)idrop;
    if (!input || strcmp(input, INPUT_CONVENT) != 0 || !get_num(&crop, p, "crop_size") ||
        !int_in(crop, 16, 1024) || !get_num(&margin, p, "margin") ||
        !(margin >= 1 && margin <= 4) || !get_num(&frames, p, "frames") ||
        !int_in(frames, 1, 1024) || !sampling ||
        dfd_sampling_parse(&m->prep.sampling.kind, sampling) || !get_num(&burst, p, "burst_len") ||
        !int_in(burst, 1, 1024) || (images && !dfd_image_faces_parse(&m->prep.images, images))) {
        *what = "preprocessing";
        return false;
    }
    m->prep.crop_size = (int)crop;
    m->prep.margin = (float)margin;
    m->prep.frames = (int)frames;
    m->prep.sampling.burst_len = (int)burst;
    if (!get_num(&t, c, "temperature") || !(t > 0) || !get_num(&tf, c, "frame_temperature") ||
        !(tf > 0) || !get_num(&thr, c, "threshold") || !(thr > 0 && thr < 1)) {
        *what = "calibration";
        return false;
    }
    m->temperature = (float)t;
    m->frame_temperature = (float)tf;
    m->threshold = (float)thr;
    return true;
}

dfd_status dfd_detector_model_load(dfd_detector_model **out, const char *path, dfd_error *err)
{
    *out = NULL;
    dfd_detector_model *m = dfd_calloc(1, sizeof *m);
    if (!m) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    dfd_status st = dfd_checkpoint_open(&m->file, path, err);
    if (st) {
        dfd_free(m);
        return st;
    }
    const char *sa = dfd_safetensors_meta(m->file, DFD_CKPT_ARCHITECTURE);
    const char *sp = dfd_safetensors_meta(m->file, DFD_CKPT_PREPROCESSING);
    const char *sc = dfd_safetensors_meta(m->file, "calibration");
    cJSON *a = sa ? cJSON_Parse(sa) : NULL, *p = sp ? cJSON_Parse(sp) : NULL;
    cJSON *c = sc ? cJSON_Parse(sc) : NULL;
    const char *what = "architecture, preprocessing or calibration metadata missing";
    dfd_head_opts ho;
    if (!a || !p || !c || !parse_settings(m, &ho, a, p, c, &what)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: not a dfdetect detector model (%s)", path,
                           what);
    }
    cJSON_Delete(a);
    cJSON_Delete(p);
    cJSON_Delete(c);
    const char *name = dfd_safetensors_meta(m->file, "name");
    const char *version = dfd_safetensors_meta(m->file, "version");
    snprintf(m->name, sizeof m->name, "%s", name ? name : "unnamed");
    snprintf(m->version, sizeof m->version, "%s", version ? version : "0");
    const char *training = dfd_safetensors_meta(m->file, DFD_CKPT_TRAINING);
    if (!st && training && !(m->training_json = dfd_strdup(training))) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!st) {
        st = dfd_head_create(&m->head, &ho, err);
    }
    if (!st) {
        size_t n;
        dfd_param *const *hp = dfd_head_params(m->head, &n);
        st = dfd_safetensors_load_params(m->file, hp, n, err);
    }
    if (st) {
        dfd_detector_model_free(m);
        return st;
    }
    *out = m;
    return DFD_OK;
}

dfd_status dfd_detector_model_load_backbone(const dfd_detector_model *m, dfd_param *const *backbone,
                                            size_t n, dfd_error *err)
{
    if (!m->backbone_tuned || n == 0) {
        return DFD_OK;
    }
    dfd_param *views = NULL;
    char *names = NULL;
    dfd_param **ptrs = dfd_malloc(n * sizeof *ptrs);
    if (!ptrs || prefixed(&views, &names, backbone, n)) {
        dfd_free(ptrs);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory",
                             dfd_safetensors_path(m->file));
    }
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &views[i];
    }
    dfd_status st = dfd_safetensors_load_params(m->file, ptrs, n, err);
    dfd_free(ptrs);
    dfd_free(views);
    dfd_free(names);
    return st;
}
